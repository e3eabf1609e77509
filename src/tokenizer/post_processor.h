// Post-processors wrap the encoded sequence(s) with special tokens and set type ids. One
// implementation per tokenizer.json "post_processor" type.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/encoding.h"

namespace ember::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // How many tokens process() adds for one sequence or a pair (truncation leaves room).
  virtual size_t added_tokens(bool pair) const = 0;
  // The largest id of the special tokens process() can add; nullopt when it adds none.
  virtual std::optional<int32_t> max_special_id() const { return std::nullopt; }
  // True when process() trims spaces off code-point offsets (ByteLevel trim_offsets); the
  // tokenizer then derives those tokens' byte offsets from the input text.
  virtual bool trims_offsets() const { return false; }
  // encodings: A, or A and B. Returns them merged, overflowing pieces included.
  virtual Encoding process(std::vector<Encoding> encodings, bool add_special_tokens) const = 0;
  // The library's process_encodings, one step of a Sequence post-processor: the encodings
  // after this processor, not yet merged. The default is process()'s merged result.
  virtual std::vector<Encoding> process_encodings(std::vector<Encoding> encodings,
                                                  bool add_special_tokens) const;
};

// What the library's process() does around process_encodings: before, sequence id i and type
// id i on encoding i; after, all merged into one (overflowing pieces combined).
void prepare_encodings(std::vector<Encoding>& encodings);
Encoding merge_encodings(std::vector<Encoding> encodings);

// From their tokenizer.json objects.
std::unique_ptr<PostProcessor> make_roberta_processing(const nlohmann::json& j);
std::unique_ptr<PostProcessor> make_byte_level_post_processor(const nlohmann::json& j);
std::unique_ptr<PostProcessor> make_sequence_post_processor(const nlohmann::json& j);

// One element of a template: a sequence ($A / $B) or a special token, with its type id.
struct TemplatePiece {
  bool is_sequence = false;
  int sequence = 0;        // 0 = A, 1 = B
  std::string special_id;  // key into the special tokens
  int32_t type_id = 0;
};

struct TemplateSpecialToken {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
};

// nullptr for a JSON null. Throws kUnsupported naming an unknown type.
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j);

}  // namespace ember::tok
