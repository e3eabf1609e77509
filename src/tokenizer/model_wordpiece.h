// WordPiece (BERT): greedy longest-match-first over the vocabulary; pieces after the first
// carry the continuing-subword prefix ("##"); a word with any unmatched rest is one [UNK].
#pragma once

#include <string>
#include <unordered_map>

#include "tokenizer/model.h"

namespace ember::tok {

// Hash and equality that accept string_view, so probes need no std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Reads a {"token": id, ...} object; kInvalidInput on a bad entry.
Vocab read_vocab(const nlohmann::json& j, std::string_view what);
// The largest id in `vocab` (ids may have gaps); nullopt when it is empty.
std::optional<int32_t> max_vocab_id(const Vocab& vocab);

class WordPieceModel final : public Model {
 public:
  WordPieceModel(Vocab vocab, std::string unk_token, std::string prefix, size_t max_chars);

  void tokenize(std::string_view word, std::vector<Token>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string_view> id_to_token(int32_t id) const override;
  size_t vocab_size() const override { return vocab_.size(); }
  std::optional<int32_t> max_id() const override { return max_vocab_id(vocab_); }

 private:
  void push_unk(std::string_view word, std::vector<Token>& out) const;

  Vocab vocab_;
  std::unordered_map<int32_t, std::string_view> by_id_;  // views into vocab_'s keys
  std::string unk_token_;
  std::string prefix_;
  size_t max_chars_;
};

}  // namespace ember::tok
