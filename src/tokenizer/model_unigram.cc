#include "tokenizer/model_unigram.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

constexpr double kUnkPenalty = 10.0;

}  // namespace

UnigramModel::UnigramModel(std::vector<UnigramPiece> vocab, std::optional<size_t> unk_id,
                           bool byte_fallback)
    : vocab_(std::move(vocab)), unk_id_(unk_id), byte_fallback_(byte_fallback) {
  EMBER_CHECK(vocab_.size() <= size_t{std::numeric_limits<int32_t>::max()},
              ErrorKind::kInvalidInput, "tokenizer.json: model: Unigram vocabulary is too large");
  if (unk_id_) {
    EMBER_CHECK(!vocab_.empty(), ErrorKind::kInvalidInput,
                "tokenizer.json: model: Unigram vocabulary is empty");
    EMBER_CHECK(*unk_id_ < vocab_.size(), ErrorKind::kInvalidInput,
                "tokenizer.json: model: Unigram unk_id ", *unk_id_, " is not in the vocabulary (",
                vocab_.size(), " pieces)");
  }
  double min_score = std::numeric_limits<double>::infinity();
  node_piece_.push_back(-1);
  ids_.reserve(vocab_.size());
  for (size_t id = 0; id < vocab_.size(); ++id) {
    const auto& [piece, score] = vocab_[id];
    ids_.insert_or_assign(piece, static_cast<int32_t>(id));  // a duplicate: the last id wins
    min_score = std::min(min_score, score);
    uint64_t node = 0;
    for (const char ch : piece) {
      const uint64_t key = node << 8 | static_cast<unsigned char>(ch);
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, static_cast<int32_t>(node_piece_.size())).first;
        node_piece_.push_back(-1);
      }
      node = static_cast<uint64_t>(it->second);
    }
    if (!piece.empty()) node_piece_[node] = static_cast<int32_t>(id);
  }
  unk_score_ = min_score - kUnkPenalty;
}

std::vector<UnigramModel::Piece> UnigramModel::best_path(std::string_view word) const {
  struct Node {
    double score = 0;
    size_t start = SIZE_MAX;  // SIZE_MAX: not reached yet
    int32_t id = 0;
  };
  std::vector<Node> best(word.size() + 1);
  const auto offer = [&](size_t end, size_t start, int32_t id, double score) {
    Node& n = best[end];
    if (n.start == SIZE_MAX || score > n.score) n = {score, start, id};
  };
  for (size_t start = 0; start < word.size();) {
    const double here = best[start].score;
    const size_t char_len = utf8_len(static_cast<unsigned char>(word[start]));
    bool single_char_piece = false;
    uint64_t node = 0;
    for (size_t i = start; i < word.size(); ++i) {
      const auto it = edges_.find(node << 8 | static_cast<unsigned char>(word[i]));
      if (it == edges_.end()) break;
      node = static_cast<uint64_t>(it->second);
      const int32_t piece = node_piece_[node];
      if (piece < 0) continue;
      // As the library: the score is that of the id the piece's string maps to.
      const int32_t id =
          ids_.find(std::string_view(vocab_[static_cast<size_t>(piece)].piece))->second;
      offer(i + 1, start, id, here + vocab_[static_cast<size_t>(id)].score);
      if (i + 1 - start == char_len) single_char_piece = true;
    }
    if (!single_char_piece) {
      EMBER_CHECK(unk_id_.has_value(), ErrorKind::kInvalidInput,
                  "tokenizer.json: model: Unigram has no unk_id and no piece for the character "
                  "at byte ",
                  start, " of '", word, "'");
      offer(start + char_len, start, static_cast<int32_t>(*unk_id_), here + unk_score_);
    }
    start += char_len;
  }
  std::vector<Piece> path;
  for (size_t end = word.size(); end > 0;) {
    const Node& n = best[end];
    const bool unk = unk_id_ && n.id == static_cast<int32_t>(*unk_id_);
    if (unk && !path.empty() && path.back().id == n.id && path.back().begin == end) {
      path.back().begin = n.start;  // consecutive unknowns fuse
    } else {
      path.push_back({n.start, end, n.id});
    }
    end = n.start;
  }
  std::reverse(path.begin(), path.end());
  return path;
}

void UnigramModel::tokenize(std::string_view word, std::vector<Token>& out) const {
  if (word.empty()) return;
  for (const Piece& p : best_path(word)) {
    const std::string_view text = word.substr(p.begin, p.end - p.begin);
    const auto it = ids_.find(text);
    if (it != ids_.end()) {
      out.push_back({it->second, std::string(text), p.begin, p.end});
      continue;
    }
    if (byte_fallback_) {
      const size_t first = out.size();
      bool all = true;
      for (const char ch : text) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(ch));
        const auto b = ids_.find(std::string_view(name));
        if (b == ids_.end()) {
          all = false;
          break;
        }
        out.push_back({b->second, name, p.begin, p.end});
      }
      if (all) continue;
      out.resize(first);
    }
    EMBER_CHECK(unk_id_.has_value(), ErrorKind::kInvalidInput,
                "tokenizer.json: model: Unigram has no unk_id for '", text, "'");
    out.push_back({static_cast<int32_t>(*unk_id_), std::string(text), p.begin, p.end});
  }
}

std::optional<int32_t> UnigramModel::token_to_id(std::string_view token) const {
  const auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string_view> UnigramModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) return std::nullopt;
  return vocab_[static_cast<size_t>(id)].piece;
}

std::unique_ptr<Model> make_unigram_model(const nlohmann::json& j) {
  constexpr std::string_view kWhat = "model";
  const auto it = j.find("vocab");
  if (it == j.end() || !it->is_array()) {
    json_fields::malformed(kWhat, "Unigram field 'vocab' must be an array");
  }
  std::vector<UnigramPiece> vocab;
  vocab.reserve(it->size());
  for (const auto& item : *it) {
    if (!item.is_array() || item.size() != 2 || !item[0].is_string() || !item[1].is_number()) {
      json_fields::malformed(kWhat,
                             cat("Unigram vocab entry ", vocab.size(), " must be [piece, score]"));
    }
    vocab.push_back({item[0].get<std::string>(), item[1].get<double>()});
  }
  std::optional<size_t> unk_id;
  const auto unk = j.find("unk_id");
  if (unk != j.end() && !unk->is_null()) {
    unk_id = json_fields::get_uint(j, kWhat, "unk_id", 0);
  }
  return std::make_unique<UnigramModel>(std::move(vocab), unk_id,
                                        json_fields::get_bool(j, kWhat, "byte_fallback", false));
}

}  // namespace ember::tok
