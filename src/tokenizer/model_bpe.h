// BPE (GPT-2, RoBERTa and most recent tokenizers): a word starts as its characters (with the
// optional continuing-subword prefix and end-of-word suffix), then adjacent symbols are merged
// by the rank of their pair in the merges list, lowest rank first, until none applies.
// unk_token / fuse_unk / byte_fallback decide what an out-of-vocabulary character becomes.
// Dropout is a training-time option and is ignored here (inference is deterministic).
#pragma once

#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/model.h"
#include "tokenizer/model_wordpiece.h"  // Vocab, read_vocab

namespace ember::tok {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;  // empty: none
  std::string end_of_word_suffix;         // empty: none
  bool fuse_unk = false;
  bool byte_fallback = false;  // unknown characters become <0xAB> byte tokens when present
  bool ignore_merges = false;  // a word found whole in the vocabulary is one token
};

using BpeMerges = std::vector<std::pair<std::string, std::string>>;

// Reads "merges": either ["a b", ...] (older files) or [["a", "b"], ...]; kInvalidInput on
// anything else, naming the rank of the bad entry.
BpeMerges read_bpe_merges(const nlohmann::json& j);

class BpeModel final : public Model {
 public:
  // Throws kInvalidInput when a merge names a token (or yields one) outside the vocabulary.
  BpeModel(Vocab vocab, const BpeMerges& merges, BpeOptions options);

  void tokenize(std::string_view word, std::vector<Token>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string_view> id_to_token(int32_t id) const override;
  size_t vocab_size() const override { return vocab_.size(); }
  std::optional<int32_t> max_id() const override { return max_vocab_id(vocab_); }

 private:
  struct Piece {
    int32_t id;
    uint32_t len;  // bytes of the word
  };
  struct MergeTarget {
    uint32_t rank;
    int32_t id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  std::vector<Piece> initial_pieces(std::string_view word) const;
  void merge_all(std::vector<Piece>& pieces) const;
  int32_t unk_id() const;

  Vocab vocab_;
  std::unordered_map<int32_t, std::string_view> by_id_;  // views into vocab_'s keys
  std::unordered_map<uint64_t, MergeTarget> merges_;
  BpeOptions options_;

  // Words already merged (the library's cache: at most 10000 words under 256 bytes).
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<Piece>, StringHash, std::equal_to<>> cache_;
};

std::unique_ptr<Model> make_bpe_model(const nlohmann::json& j);

}  // namespace ember::tok
