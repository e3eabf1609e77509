#include "tokenizer/model_bpe.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <queue>

#include "core/error.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

constexpr std::string_view kWhat = "model";
constexpr size_t kCacheCapacity = 10000;
constexpr size_t kCacheMaxWordBytes = 256;

// A symbol of the word being merged: a doubly linked list over a vector, so a merge is O(1)
// and the heap below makes the whole word O(n log n).
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  uint32_t len;  // 0 once merged into its left neighbour
};

struct Candidate {
  uint32_t rank;
  int32_t pos;
  int32_t new_id;
  // Lowest rank first, then leftmost (a min-heap through std::priority_queue's max-heap).
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeMerges read_bpe_merges(const nlohmann::json& j) {
  if (!j.is_array()) json_fields::malformed(kWhat, "field 'merges' must be an array");
  BpeMerges merges;
  merges.reserve(j.size());
  size_t rank = 0;
  for (const auto& m : j) {
    if (m.is_string()) {
      const std::string& line = m.get_ref<const std::string&>();
      if (line.starts_with("#version")) continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        json_fields::malformed(kWhat, cat("merge ", rank + 1, " '", line, "' is not \"a b\""));
      }
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      json_fields::malformed(kWhat, cat("merge ", rank + 1, " must be \"a b\" or [a, b]"));
    }
    ++rank;
  }
  return merges;
}

BpeModel::BpeModel(Vocab vocab, const BpeMerges& merges, BpeOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  by_id_.reserve(vocab_.size());
  for (const auto& [token, id] : vocab_) by_id_.emplace(id, token);
  const size_t prefix_len = options_.continuing_subword_prefix.size();
  merges_.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const auto ia = vocab_.find(a);
    const auto ib = vocab_.find(b);
    if (ia == vocab_.end() || ib == vocab_.end()) {
      json_fields::malformed(kWhat, cat("merge ", rank + 1, " uses '", ia == vocab_.end() ? a : b,
                                        "', not in the vocabulary"));
    }
    // As the library: the new token is a + b without b's continuing-subword prefix.
    if (b.size() < prefix_len) {
      json_fields::malformed(kWhat,
                             cat("merge ", rank + 1, " '", b, "' is shorter than the prefix"));
    }
    joined.assign(a).append(b, prefix_len);
    const auto in = vocab_.find(joined);
    if (in == vocab_.end()) {
      json_fields::malformed(
          kWhat, cat("merge ", rank + 1, " yields '", joined, "', not in the vocabulary"));
    }
    // A repeated pair keeps its last rank, as the library's map does.
    merges_[pair_key(ia->second, ib->second)] = {static_cast<uint32_t>(rank), in->second};
  }
}

int32_t BpeModel::unk_id() const {
  const auto it = vocab_.find(std::string_view(*options_.unk_token));
  EMBER_CHECK(it != vocab_.end(), ErrorKind::kInvalidInput, "tokenizer.json: BPE unk_token '",
              *options_.unk_token, "' is not in the vocabulary");
  return it->second;
}

std::vector<BpeModel::Piece> BpeModel::initial_pieces(std::string_view word) const {
  std::vector<Piece> pieces;
  pieces.reserve(word.size());
  std::optional<Piece> unk;
  const bool decorate =
      !options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty();
  std::string buf;
  for (size_t i = 0; i < word.size();) {
    const size_t len = utf8_len(static_cast<unsigned char>(word[i]));
    std::string_view s = word.substr(i, len);
    const bool first = i == 0;
    i += len;
    if (decorate) {
      buf.clear();
      if (!first) buf += options_.continuing_subword_prefix;
      buf += s;
      if (i >= word.size()) buf += options_.end_of_word_suffix;
      s = buf;
    }
    if (const auto it = vocab_.find(s); it != vocab_.end()) {
      if (unk) {
        pieces.push_back(*unk);
        unk.reset();
      }
      pieces.push_back({it->second, static_cast<uint32_t>(len)});
      continue;
    }
    if (options_.byte_fallback) {
      std::vector<int32_t> ids;
      for (unsigned char b : s) {
        char code[8];
        std::snprintf(code, sizeof code, "<0x%02X>", b);
        const auto it = vocab_.find(std::string_view(code));
        if (it == vocab_.end()) break;
        ids.push_back(it->second);
      }
      if (ids.size() == s.size()) {
        for (int32_t id : ids) pieces.push_back({id, 1});
        continue;
      }
    }
    if (!options_.unk_token) continue;  // the character is dropped, as in the library
    if (unk && options_.fuse_unk) {
      unk->len += static_cast<uint32_t>(len);
    } else {
      if (unk) pieces.push_back(*unk);
      unk = Piece{unk_id(), static_cast<uint32_t>(len)};
    }
  }
  if (unk) pieces.push_back(*unk);
  return pieces;
}

void BpeModel::merge_all(std::vector<Piece>& pieces) const {
  if (pieces.size() < 2 || merges_.empty()) return;
  const auto n = static_cast<int32_t>(pieces.size());
  std::vector<Symbol> sym(pieces.size());
  for (int32_t i = 0; i < n; ++i) {
    sym[static_cast<size_t>(i)] = {pieces[static_cast<size_t>(i)].id, i - 1, i + 1 < n ? i + 1 : -1,
                                   pieces[static_cast<size_t>(i)].len};
  }
  auto lookup = [this](int32_t a, int32_t b) -> const MergeTarget* {
    const auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  std::vector<Candidate> storage;
  storage.reserve(pieces.size());
  std::priority_queue<Candidate> queue(std::less<Candidate>(), std::move(storage));
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (const auto* m =
            lookup(sym[static_cast<size_t>(i)].id, sym[static_cast<size_t>(i) + 1].id)) {
      queue.push({m->rank, i, m->id});
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& cur = sym[static_cast<size_t>(top.pos)];
    if (cur.len == 0 || cur.next == -1) continue;
    Symbol& right = sym[static_cast<size_t>(cur.next)];
    const MergeTarget* m = lookup(cur.id, right.id);
    if (!m || m->id != top.new_id) continue;  // stale: a neighbour changed since it was queued
    cur.id = top.new_id;
    cur.len += right.len;
    right.len = 0;
    cur.next = right.next;
    if (cur.next != -1) sym[static_cast<size_t>(cur.next)].prev = top.pos;
    if (cur.prev != -1) {
      if (const auto* pm = lookup(sym[static_cast<size_t>(cur.prev)].id, cur.id)) {
        queue.push({pm->rank, cur.prev, pm->id});
      }
    }
    if (cur.next != -1) {
      if (const auto* nm = lookup(cur.id, sym[static_cast<size_t>(cur.next)].id)) {
        queue.push({nm->rank, top.pos, nm->id});
      }
    }
  }
  pieces.clear();
  for (const Symbol& s : sym) {
    if (s.len != 0) pieces.push_back({s.id, s.len});
  }
}

void BpeModel::tokenize(std::string_view word, std::vector<Token>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back({it->second, std::string(word), 0, word.size()});
      return;
    }
  }
  std::vector<Piece> pieces;
  bool cached = false;
  {
    std::shared_lock lock(cache_mutex_);
    if (const auto it = cache_.find(word); it != cache_.end()) {
      pieces = it->second;
      cached = true;
    }
  }
  if (!cached) {
    pieces = initial_pieces(word);
    merge_all(pieces);
    if (word.size() < kCacheMaxWordBytes) {
      std::unique_lock lock(cache_mutex_);
      if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), pieces);
    }
  }
  size_t pos = 0;
  for (const Piece& p : pieces) {
    const auto it = by_id_.find(p.id);
    EMBER_CHECK(it != by_id_.end(), ErrorKind::kInternal, "BPE id ", p.id, " has no token");
    out.push_back({p.id, std::string(it->second), pos, pos + p.len});
    pos += p.len;
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string_view> BpeModel::id_to_token(int32_t id) const {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::unique_ptr<Model> make_bpe_model(const nlohmann::json& j) {
  using namespace json_fields;
  const auto vocab = j.find("vocab");
  const auto merges = j.find("merges");
  if (vocab == j.end()) malformed(kWhat, "missing field 'vocab'");
  if (merges == j.end()) malformed(kWhat, "missing field 'merges'");
  if (const auto d = j.find("dropout"); d != j.end() && !d->is_null()) {
    if (!d->is_number() || d->get<double>() < 0.0 || d->get<double>() > 1.0) {
      malformed(kWhat, "field 'dropout' must be a number in [0, 1]");
    }
  }
  BpeOptions o;
  if (const auto u = j.find("unk_token"); u != j.end() && !u->is_null()) {
    o.unk_token = get_string(j, kWhat, "unk_token", "");
  }
  o.continuing_subword_prefix = get_string(j, kWhat, "continuing_subword_prefix", "");
  o.end_of_word_suffix = get_string(j, kWhat, "end_of_word_suffix", "");
  o.fuse_unk = get_bool(j, kWhat, "fuse_unk", false);
  o.byte_fallback = get_bool(j, kWhat, "byte_fallback", false);
  o.ignore_merges = get_bool(j, kWhat, "ignore_merges", false);
  return std::make_unique<BpeModel>(read_vocab(*vocab, kWhat), read_bpe_merges(*merges),
                                    std::move(o));
}

}  // namespace ember::tok
