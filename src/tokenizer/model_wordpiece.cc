#include "tokenizer/model_wordpiece.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/model_bpe.h"
#include "tokenizer/model_unigram.h"
#include "tokenizer/utf8.h"

namespace ember::tok {

Vocab read_vocab(const nlohmann::json& j, std::string_view what) {
  if (!j.is_object()) json_fields::malformed(what, "field 'vocab' must be an object");
  Vocab vocab;
  vocab.reserve(j.size());
  for (const auto& [token, id] : j.items()) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() > std::numeric_limits<int32_t>::max()) {
      json_fields::malformed(what, cat("vocab id of '", token, "' must be a non-negative int32"));
    }
    vocab.emplace(token, static_cast<int32_t>(id.get<uint64_t>()));
  }
  return vocab;
}

std::optional<int32_t> max_vocab_id(const Vocab& vocab) {
  std::optional<int32_t> best;
  for (const auto& [token, id] : vocab) {
    if (!best || id > *best) best = id;
  }
  return best;
}

WordPieceModel::WordPieceModel(Vocab vocab, std::string unk_token, std::string prefix,
                               size_t max_chars)
    : vocab_(std::move(vocab)),
      unk_token_(std::move(unk_token)),
      prefix_(std::move(prefix)),
      max_chars_(max_chars) {
  by_id_.reserve(vocab_.size());
  for (const auto& [token, id] : vocab_) by_id_.emplace(id, token);
}

void WordPieceModel::push_unk(std::string_view word, std::vector<Token>& out) const {
  const auto it = vocab_.find(std::string_view(unk_token_));
  EMBER_CHECK(it != vocab_.end(), ErrorKind::kInvalidInput, "tokenizer.json: WordPiece unk_token '",
              unk_token_, "' is not in the vocabulary");
  out.push_back({it->second, unk_token_, 0, word.size()});
}

void WordPieceModel::tokenize(std::string_view word, std::vector<Token>& out) const {
  if (count_code_points(word) > max_chars_) return push_unk(word, out);
  const size_t first = out.size();
  std::string probe;  // reused: prefix + candidate, grown once per word
  probe.reserve(prefix_.size() + word.size());
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    bool found = false;
    while (start < end) {
      const std::string_view piece = word.substr(start, end - start);
      std::string_view key = piece;
      if (start > 0) {
        probe.assign(prefix_);
        probe.append(piece);
        key = probe;
      }
      const auto it = vocab_.find(key);
      if (it != vocab_.end()) {
        out.push_back({it->second, std::string(key), start, end});
        found = true;
        break;
      }
      size_t char_start = 0;
      last_code_point(word, end, &char_start);
      end = std::max(char_start, start);
    }
    if (!found) {
      out.resize(first);
      return push_unk(word, out);
    }
    start = end;
  }
}

std::optional<int32_t> WordPieceModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string_view> WordPieceModel::id_to_token(int32_t id) const {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::unique_ptr<Model> make_model(const nlohmann::json& j) {
  constexpr std::string_view kWhat = "model";
  if (!j.is_object()) json_fields::malformed(kWhat, "expected an object");
  // Old files omit "type"; a WordPiece model is recognised by its fields, as the library does.
  std::string type;
  if (j.contains("type")) {
    type = json_fields::type_of(j, kWhat);
  } else if (j.contains("max_input_chars_per_word")) {
    type = "WordPiece";
  } else if (j.contains("merges")) {
    type = "BPE";
  } else {
    json_fields::malformed(kWhat, "missing string field 'type'");
  }
  if (type == "BPE") return make_bpe_model(j);
  if (type == "Unigram") return make_unigram_model(j);
  if (type != "WordPiece") json_fields::unsupported(kWhat, type);
  const auto it = j.find("vocab");
  if (it == j.end()) json_fields::malformed(kWhat, "missing field 'vocab'");
  return std::make_unique<WordPieceModel>(
      read_vocab(*it, kWhat), json_fields::get_string(j, kWhat, "unk_token", "[UNK]"),
      json_fields::get_string(j, kWhat, "continuing_subword_prefix", "##"),
      json_fields::get_uint(j, kWhat, "max_input_chars_per_word", 100));
}

}  // namespace ember::tok
