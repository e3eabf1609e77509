// Post-processors wrap the encoded sequence(s) with special tokens and set type ids. One
// implementation per tokenizer.json "post_processor" type.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "tokenizer/encoding.h"

namespace ember::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // How many tokens process() adds for one sequence or a pair (truncation leaves room).
  virtual size_t added_tokens(bool pair) const = 0;
  // encodings: A, or A and B. Returns them merged, overflowing pieces included.
  virtual Encoding process(std::vector<Encoding> encodings, bool add_special_tokens) const = 0;
};

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
