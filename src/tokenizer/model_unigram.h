// Unigram (SentencePiece): the segmentation of a word that maximises the sum of piece scores
// (Viterbi over a byte trie of the pieces). A character no piece starts with costs the lowest
// score minus 10 and becomes the unknown token; consecutive unknowns fuse into one. With
// byte_fallback an unknown becomes its <0xXX> byte tokens when the vocabulary has them all.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/model.h"
#include "tokenizer/model_wordpiece.h"

namespace ember::tok {

struct UnigramPiece {
  std::string piece;
  double score = 0;
};

class UnigramModel final : public Model {
 public:
  // kInvalidInput when unk_id is outside the vocabulary.
  UnigramModel(std::vector<UnigramPiece> vocab, std::optional<size_t> unk_id, bool byte_fallback);

  // kInvalidInput when a character has no piece and there is no unk_id (the library's error).
  void tokenize(std::string_view word, std::vector<Token>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string_view> id_to_token(int32_t id) const override;
  size_t vocab_size() const override { return vocab_.size(); }
  std::optional<int32_t> max_id() const override {  // ids are positions in the vocabulary
    if (vocab_.empty()) return std::nullopt;
    return static_cast<int32_t>(vocab_.size() - 1);
  }

 private:
  // The pieces of the best path, as byte ranges of `word` with their ids (unknowns fused).
  struct Piece {
    size_t begin, end;
    int32_t id;
  };
  std::vector<Piece> best_path(std::string_view word) const;

  // Byte trie over the pieces: (node << 8 | byte) -> child; piece id per node (-1 for none).
  std::unordered_map<uint64_t, int32_t> edges_;
  std::vector<int32_t> node_piece_;

  std::vector<UnigramPiece> vocab_;
  Vocab ids_;
  std::optional<size_t> unk_id_;
  bool byte_fallback_;
  double unk_score_ = 0;
};

// From the tokenizer.json model object ({"type": "Unigram", "vocab": [[piece, score], ...]}).
std::unique_ptr<Model> make_unigram_model(const nlohmann::json& j);

}  // namespace ember::tok
