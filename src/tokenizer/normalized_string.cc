#include "tokenizer/normalized_string.h"

#include <algorithm>

#include "tokenizer/unicode_props.h"

namespace ember::tok {

NormalizedString::NormalizedString(std::string_view original)
    : original_(original), normalized_(original) {
  alignments_.resize(original.size());
  for (size_t i = 0; i < original.size();) {
    const size_t start = i;
    i += utf8_len(static_cast<unsigned char>(original[i]));
    std::fill(alignments_.begin() + static_cast<ptrdiff_t>(start),
              alignments_.begin() + static_cast<ptrdiff_t>(i),
              ByteSpan{static_cast<uint32_t>(start), static_cast<uint32_t>(i)});
  }
}

std::optional<std::pair<size_t, size_t>> NormalizedString::to_original(size_t begin,
                                                                       size_t end) const {
  // The library returns an empty range unchanged (in normalized units); we do the same.
  if (begin == end) return std::pair{shift_ + begin, shift_ + end};
  if (begin > end || end > alignments_.size()) return std::nullopt;
  return std::pair{shift_ + alignments_[begin].begin, shift_ + alignments_[end - 1].end};
}

void NormalizedString::lowercase() {
  rewrite([](char32_t c, size_t, std::u32string& out) { append_lowercase(c, out); });
}

void NormalizedString::map_bytes(const std::string_view (&table)[256]) {
  std::string text;
  std::vector<ByteSpan> align;
  text.reserve(normalized_.size() * 2);
  align.reserve(normalized_.size() * 2);
  for (size_t i = 0; i < normalized_.size(); ++i) {
    const std::string_view to = table[static_cast<unsigned char>(normalized_[i])];
    text.append(to);
    align.insert(align.end(), to.size(), alignments_[i]);
  }
  normalized_ = std::move(text);
  alignments_ = std::move(align);
}

void NormalizedString::strip(bool left, bool right) {
  size_t begin = 0;
  size_t end = normalized_.size();
  if (left) {
    size_t i = 0;
    while (i < end) {
      const size_t start = i;
      if (!is_whitespace(decode_utf8(normalized_, i))) {
        i = start;
        break;
      }
    }
    begin = i;
  }
  if (right) {
    while (end > begin) {
      size_t start = 0;
      if (!is_whitespace(last_code_point(normalized_, end, &start))) break;
      end = start;
    }
  }
  if (begin == 0 && end == normalized_.size()) return;
  normalized_ = normalized_.substr(begin, end - begin);
  alignments_.erase(alignments_.begin() + static_cast<ptrdiff_t>(end), alignments_.end());
  alignments_.erase(alignments_.begin(), alignments_.begin() + static_cast<ptrdiff_t>(begin));
}

namespace {

// The library normalizes with `unicode-normalization-alignments`, which reports each output
// character with a change for NormalizedString::transform: 0 replaces the next old character
// (and takes its alignment), 1 is inserted after the previous one, -n replaces and drops n more.
// Decomposition gives 0 to the first piece of a character and 1 to the rest; canonical
// reordering then moves pieces with their changes, so alignments follow positions, not
// characters: in "\u1004\u103a\u1037" -> "\u1004\u1037\u103a" (NFC) the second character takes
// the second original one's alignment and the third the third's, and a token over the whole
// cluster ends where the cluster ends.
struct Decomposed {
  std::vector<std::pair<char32_t, int>> changes;
  std::vector<uint8_t> classes;  // canonical combining class of each, as the library sees it
};

Decomposed decomposed(const std::string& s, bool compat) {
  Decomposed d;
  d.changes.reserve(s.size());
  d.classes.reserve(s.size());
  std::u32string pieces;
  for (size_t i = 0; i < s.size();) {
    pieces.clear();
    append_decomposition(decode_utf8(s, i), compat, pieces);
    for (size_t k = 0; k < pieces.size(); ++k) {
      d.changes.emplace_back(pieces[k], k == 0 ? 0 : 1);
      d.classes.push_back(static_cast<uint8_t>(combining_class(pieces[k])));
    }
  }
  // Canonical order: each run of marks (class > 0) stably sorted by class.
  std::vector<size_t> order;
  std::vector<std::pair<char32_t, int>> run;
  std::vector<uint8_t> run_classes;
  for (size_t i = 0; i < d.changes.size();) {
    if (d.classes[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.changes.size() && d.classes[j] != 0) ++j;
    if (j - i > 1) {
      order.resize(j - i);
      for (size_t k = 0; k < order.size(); ++k) order[k] = i + k;
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t x, size_t y) { return d.classes[x] < d.classes[y]; });
      run.clear();
      run_classes.clear();
      for (size_t k : order) {
        run.push_back(d.changes[k]);
        run_classes.push_back(d.classes[k]);
      }
      std::copy(run.begin(), run.end(), d.changes.begin() + static_cast<ptrdiff_t>(i));
      std::copy(run_classes.begin(), run_classes.end(),
                d.classes.begin() + static_cast<ptrdiff_t>(i));
    }
    i = j;
  }
  return d;
}

// True when decomposing changes nothing: no character decomposes and none is a combining
// mark (so nothing is reordered). The common case, and then the rebuild is skipped.
bool decomposes_to_itself(std::string_view s, bool compat) {
  const char32_t below = compat ? 0xA0 : 0xC0;  // nothing under it decomposes
  std::u32string pieces;
  for (size_t i = 0; i < s.size();) {
    const char32_t c = decode_utf8(s, i);
    if (c < below) continue;
    if (combining_class(c) != 0) return false;
    pieces.clear();
    append_decomposition(c, compat, pieces);
    if (pieces.size() != 1 || pieces[0] != c) return false;
  }
  return true;
}

// True when composing changes nothing because every character is below U+0300 (canonical; no
// decomposition, no mark, nothing that composes with what precedes it) or below U+00A0
// (compatibility).
bool composes_to_itself(std::string_view s, bool compat) {
  const char32_t below = compat ? 0xA0 : 0x300;
  for (size_t i = 0; i < s.size();) {
    if (decode_utf8(s, i) >= below) return false;
  }
  return true;
}

}  // namespace

void NormalizedString::decompose(bool compat) {
  if (decomposes_to_itself(normalized_, compat)) return;
  transform(decomposed(normalized_, compat).changes);
}

void NormalizedString::compose(bool compat) {
  if (composes_to_itself(normalized_, compat)) return;
  const Decomposed d = decomposed(normalized_, compat);
  // Canonical composition: a mark joins the last starter unless a mark of the same or higher
  // class stands between them. The composite replaces the starter and absorbs the mark's
  // change (starter + mark - 1: composing two replaced characters drops one old character).
  std::vector<std::pair<char32_t, int>> out;
  out.reserve(d.changes.size());
  size_t starter = SIZE_MAX;
  int last_ccc = -1;  // class of the last character kept after the starter; -1: none
  for (size_t i = 0; i < d.changes.size(); ++i) {
    const auto [c, change] = d.changes[i];
    const int ccc = d.classes[i];
    if (starter != SIZE_MAX && (last_ccc == -1 || last_ccc < ccc)) {
      if (const char32_t composite = compose_pair(out[starter].first, c)) {
        out[starter].first = composite;
        out[starter].second += change - 1;
        continue;
      }
    }
    if (ccc == 0) {
      starter = out.size();
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    out.emplace_back(c, change);
  }
  transform(out);
}

NormalizedString NormalizedString::slice(size_t begin, size_t end) const {
  NormalizedString s;
  end = std::min(end, normalized_.size());
  if (begin >= end) {
    s.shift_ = shift_;
    return s;
  }
  uint32_t ob = alignments_[begin].begin;
  uint32_t oe = alignments_[end - 1].end;
  oe = std::min<uint32_t>(std::max(ob, oe), static_cast<uint32_t>(original_.size()));
  ob = std::min(ob, oe);
  s.original_ = original_.substr(ob, oe - ob);
  s.shift_ = shift_ + ob;
  s.normalized_ = normalized_.substr(begin, end - begin);
  s.alignments_.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    const ByteSpan a = alignments_[i];
    // Saturate: inserted text at the very start carries (0, 0), before the slice's origin.
    s.alignments_.push_back({a.begin > ob ? a.begin - ob : 0, a.end > ob ? a.end - ob : 0});
  }
  return s;
}

std::vector<NormalizedString> NormalizedString::split(const std::vector<SplitMatch>& matches,
                                                      SplitBehavior behavior) const {
  std::vector<SplitMatch> pieces;  // is_match here means "drop this piece"
  pieces.reserve(matches.size());
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const auto& m : matches) pieces.push_back({m.begin, m.end, false});
      break;
    case SplitBehavior::kRemoved:
      pieces = matches;
      break;
    case SplitBehavior::kContiguous: {
      bool previous = false;
      for (const auto& m : matches) {
        if (m.is_match == previous && !pieces.empty()) {
          pieces.back().end = m.end;
        } else {
          pieces.push_back({m.begin, m.end, false});
        }
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous = false;
      for (const auto& m : matches) {
        if (m.is_match && !previous && !pieces.empty()) {
          pieces.back().end = m.end;
        } else {
          pieces.push_back({m.begin, m.end, false});
        }
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous && !pieces.empty()) {
          pieces.back().begin = it->begin;
        } else {
          pieces.push_back({it->begin, it->end, false});
        }
        previous = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
  }
  std::vector<NormalizedString> out;
  out.reserve(pieces.size());
  for (const auto& p : pieces) {
    if (!p.is_match) out.push_back(slice(p.begin, p.end));
  }
  return out;
}

}  // namespace ember::tok
