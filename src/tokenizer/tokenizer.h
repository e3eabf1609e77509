// A tokenizer read from a Hugging Face tokenizer.json. Its pipeline is the library's:
// added-token split -> normalizer -> pre-tokenizer -> model -> post-processor (+ truncation).
// Each stage is an interface with one implementation per component type, so new components
// (issue: every tokenizer.json that encoder models use) slot in without touching the rest.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/encoding.h"

namespace ember::tok {

enum class TruncationStrategy { kLongestFirst, kOnlyFirst, kOnlySecond };
enum class TruncationDirection { kRight, kLeft };

struct Truncation {
  size_t max_length = 512;
  size_t stride = 0;
  TruncationStrategy strategy = TruncationStrategy::kLongestFirst;
  TruncationDirection direction = TruncationDirection::kRight;
  // Also return what was cut off as Encoding::overflowing windows of max_length tokens that
  // overlap by `stride`, as the library always does. Off by default: nothing in the engine or
  // the server reads them, and for a pair the library combines every window of one side with
  // every window of the other, so their size grows with the product of the two lengths (two
  // 20,000-word texts, max_length 512: 2.5 GB). Without them truncation costs one copy of
  // the kept tokens, and the kept encoding is the same either way.
  bool return_overflowing = false;
};

class Tokenizer {
 public:
  // Throws Error(kInvalidInput) for malformed JSON, kUnsupported naming an unknown component
  // ("tokenizer.json: normalizer type 'Foo' is not supported").
  static Tokenizer from_file(const std::filesystem::path& path);
  static Tokenizer from_json(std::string_view json, const std::string& origin = "tokenizer.json");

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Throws Error(kInvalidInput) if the text is not valid UTF-8.
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  Encoding encode_pair(std::string_view a, std::string_view b,
                       bool add_special_tokens = true) const;
  // The same with this call's truncation in place of the tokenizer's own (nullopt: none), so
  // that one tokenizer serves requests with different truncation from several threads.
  Encoding encode(std::string_view text, bool add_special_tokens,
                  const std::optional<Truncation>& truncation) const;
  Encoding encode_pair(std::string_view a, std::string_view b, bool add_special_tokens,
                       const std::optional<Truncation>& truncation) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;

  // Truncation as tokenizer.json sets it; nullopt disables it. The engine overrides it with
  // the model's limit.
  const std::optional<Truncation>& truncation() const;
  void set_truncation(std::optional<Truncation> truncation);

  // Number of special tokens the post-processor adds to one sequence (2 for BERT).
  size_t num_special_tokens(bool pair) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  size_t vocab_size() const;  // including added tokens

  // The largest id encode() can return: the model's vocabulary (its unknown-token and
  // byte-fallback ids are in it), the added tokens, and the special tokens the post-processor
  // inserts (ids written in the file, which may lie outside the vocabulary). Padding ids are not
  // counted: Ember never pads. nullopt when nothing can be emitted. A model whose embedding
  // table has fewer rows than max_token_id() + 1 would fail on such a token at run time.
  std::optional<int32_t> max_token_id() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ember::tok
