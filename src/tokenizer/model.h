// Models turn one pre-tokenized word into tokens. One implementation per tokenizer.json
// "model" type (WordPiece now; BPE, Unigram, WordLevel later).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/pre_tokenized_string.h"

namespace ember::tok {

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of `word`; their offsets are bytes of `word`.
  virtual void tokenize(std::string_view word, std::vector<Token>& out) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string_view> id_to_token(int32_t id) const = 0;
  virtual size_t vocab_size() const = 0;
  // The largest id tokenize() can return (every id comes from the vocabulary, unknown-token
  // and byte-fallback ids included); nullopt for an empty vocabulary.
  virtual std::optional<int32_t> max_id() const = 0;
};

// Throws kUnsupported naming an unknown type.
std::unique_ptr<Model> make_model(const nlohmann::json& j);

}  // namespace ember::tok
