#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

namespace ember::tok {

void AddedVocabulary::Trie::clear() {
  edges.clear();
  value.assign(1, -1);
  starts.fill(false);
}

void AddedVocabulary::Trie::insert(std::string_view pattern, int32_t id) {
  if (!pattern.empty()) starts[static_cast<unsigned char>(pattern[0])] = true;
  int32_t node = 0;
  for (unsigned char b : pattern) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | b;
    auto it = edges.find(key);
    if (it == edges.end()) {
      it = edges.emplace(key, static_cast<int32_t>(value.size())).first;
      value.push_back(-1);
    }
    node = it->second;
  }
  value[static_cast<size_t>(node)] = id;
}

void AddedVocabulary::add(const std::vector<AddedToken>& tokens, const Model& model,
                          const Normalizer* normalizer) {
  const auto model_size = static_cast<int32_t>(model.vocab_size());
  int32_t next_id = model_size;
  if (!by_id_.empty()) {
    int32_t max_id = 0;
    for (const auto& [id, t] : by_id_) max_id = std::max(max_id, id);
    if (max_id >= model_size || model_size == 0) next_id = max_id + 1;
  }
  for (const AddedToken& t : tokens) {
    if (t.content.empty()) continue;
    if (const auto it = by_content_.find(t.content); it != by_content_.end()) {
      if (const auto old = by_id_.find(it->second); old != by_id_.end() && old->second == t) {
        continue;
      }
    }
    int32_t id = 0;
    if (const auto known = token_to_id(t.content)) {
      id = *known;
    } else if (const auto in_model = model.token_to_id(t.content)) {
      id = *in_model;
    } else {
      id = next_id++;
    }
    if (t.normalized && normalizer) {
      NormalizedString n(t.content);
      normalizer->normalize(n);
      if (n.get() != t.content) normalized_form_[id] = n.get();
    }
    by_content_[t.content] = id;
    if (t.special) special_.insert(t.content);
    by_id_[id] = t;
  }
  rebuild();
}

void AddedVocabulary::rebuild() {
  raw_trie_.clear();
  normalized_trie_.clear();
  for (const auto& [id, t] : by_id_) {
    if (!t.normalized) {
      raw_trie_.insert(t.content, id);
      continue;
    }
    const auto n = normalized_form_.find(id);
    normalized_trie_.insert(n != normalized_form_.end() ? n->second : t.content, id);
  }
}

namespace {

bool ends_with_word(std::string_view s) {
  return !s.empty() && is_word_char(last_code_point(s, s.size()));
}

bool starts_with_word(std::string_view s) {
  size_t i = 0;
  return !s.empty() && is_word_char(decode_utf8(s, i));
}

// Start of the whitespace run that ends s.
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = 0;
    if (!is_whitespace(last_code_point(s, end, &start))) break;
    end = start;
  }
  return end;
}

// End of the whitespace run that starts s.
size_t leading_space_end(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    if (!is_whitespace(decode_utf8(s, i))) return start;
  }
  return i;
}

}  // namespace

std::vector<AddedVocabulary::Match> AddedVocabulary::find_matches(std::string_view s,
                                                                  const Trie& trie) const {
  if (s.empty()) return {};
  if (trie.empty()) return {{-1, 0, s.size()}};
  std::vector<Match> out;
  size_t gap_start = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!trie.starts[static_cast<unsigned char>(s[i])]) {  // no pattern starts here
      ++i;
      continue;
    }
    // Leftmost-longest: the longest pattern that starts at the first position with any.
    int32_t node = 0;
    int32_t best_id = -1;
    size_t best_end = 0;
    for (size_t j = i; j < s.size(); ++j) {
      const auto it =
          trie.edges.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(s[j]));
      if (it == trie.edges.end()) break;
      node = it->second;
      if (trie.value[static_cast<size_t>(node)] >= 0) {
        best_id = trie.value[static_cast<size_t>(node)];
        best_end = j + 1;
      }
    }
    if (best_id < 0) {
      ++i;
      continue;
    }
    size_t start = i;
    size_t stop = best_end;
    i = best_end;  // a rejected match still consumes its bytes, as in the library
    const AddedToken& t = by_id_.at(best_id);
    if (t.single_word) {
      const bool space_before = start == 0 || !ends_with_word(s.substr(0, start));
      const bool space_after = stop == s.size() || !starts_with_word(s.substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (t.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), gap_start);
    if (t.rstrip) stop += leading_space_end(s.substr(stop));
    if (gap_start < start) out.push_back({-1, gap_start, start});
    out.push_back({best_id, start, stop});
    gap_start = stop;
    i = std::max(i, stop);
  }
  if (gap_start != s.size()) out.push_back({-1, gap_start, s.size()});
  return out;
}

std::vector<Split> AddedVocabulary::split_with(NormalizedString&& s, const Trie& trie) const {
  std::vector<Split> out;
  const std::vector<Match> matches = find_matches(s.get(), trie);
  // One gap over all of s: keep s itself when slicing it would give an identical copy.
  if (matches.size() == 1 && matches[0].id < 0 && s.alignment(0).begin == 0 &&
      s.alignment(s.size() - 1).end == s.original().size()) {
    out.push_back({std::move(s), std::nullopt});
    return out;
  }
  for (const Match& m : matches) {
    NormalizedString piece = s.slice(m.begin, m.end);
    if (m.id >= 0) {
      std::vector<Token> tokens{{m.id, piece.get(), 0, piece.size()}};
      out.push_back({std::move(piece), std::move(tokens)});
    } else {
      out.push_back({std::move(piece), std::nullopt});
    }
  }
  return out;
}

PreTokenizedString AddedVocabulary::extract_and_normalize(std::string_view text,
                                                          const Normalizer* normalizer) const {
  PreTokenizedString p(text);
  p.split([&](NormalizedString&& s) { return split_with(std::move(s), raw_trie_); });
  p.split([&](NormalizedString&& s) {
    if (normalizer) normalizer->normalize(s);
    return split_with(std::move(s), normalized_trie_);
  });
  return p;
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view token) const {
  const auto it = by_content_.find(token);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> AddedVocabulary::id_to_token(int32_t id) const {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  const auto n = normalized_form_.find(id);
  return n != normalized_form_.end() ? n->second : it->second.content;
}

bool AddedVocabulary::is_special(std::string_view token) const {
  return special_.find(token) != special_.end();
}

std::optional<int32_t> AddedVocabulary::max_id() const {
  std::optional<int32_t> best;
  for (const auto& [id, token] : by_id_) {
    if (!best || id > *best) best = id;
  }
  return best;
}

size_t AddedVocabulary::count_not_in(const Model& model) const {
  size_t n = 0;
  for (const auto& [content, id] : by_content_) n += !model.token_to_id(content).has_value();
  return n;
}

}  // namespace ember::tok
