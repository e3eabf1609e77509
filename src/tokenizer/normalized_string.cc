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

struct AlignedChar {
  char32_t c;
  ByteSpan a;
};

// Decomposes every character and puts combining marks in canonical order; each piece keeps
// the alignment of the character it came from.
std::vector<AlignedChar> decomposed(const std::string& s, const std::vector<ByteSpan>& align,
                                    bool compat) {
  std::vector<AlignedChar> out;
  out.reserve(s.size());
  std::u32string pieces;
  for (size_t i = 0; i < s.size();) {
    const ByteSpan a = align[i];
    pieces.clear();
    append_decomposition(decode_utf8(s, i), compat, pieces);
    for (char32_t c : pieces) out.push_back({c, a});
  }
  for (size_t i = 0; i < out.size();) {
    if (combining_class(out[i].c) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && combining_class(out[j].c) != 0) ++j;
    std::stable_sort(out.begin() + static_cast<ptrdiff_t>(i),
                     out.begin() + static_cast<ptrdiff_t>(j),
                     [](const AlignedChar& x, const AlignedChar& y) {
                       return combining_class(x.c) < combining_class(y.c);
                     });
    i = j;
  }
  return out;
}

// True when decomposing changes nothing: no character decomposes and none is a combining
// mark (so nothing is reordered). The common case, and then the rebuild is skipped.
bool decomposes_to_itself(std::string_view s, bool compat) {
  std::u32string pieces;
  for (size_t i = 0; i < s.size();) {
    const char32_t c = decode_utf8(s, i);
    if (c < 0xC0) continue;
    if (combining_class(c) != 0) return false;
    pieces.clear();
    append_decomposition(c, compat, pieces);
    if (pieces.size() != 1 || pieces[0] != c) return false;
  }
  return true;
}

}  // namespace

void NormalizedString::decompose(bool compat) {
  if (decomposes_to_itself(normalized_, compat)) return;
  const auto chars = decomposed(normalized_, alignments_, compat);
  Builder b(normalized_.size() + 8);
  for (const auto& ch : chars) b.push(ch.c, ch.a);
  b.finish(*this);
}

void NormalizedString::compose(bool compat) {
  auto chars = decomposed(normalized_, alignments_, compat);
  // Canonical composition: a mark joins the last starter unless blocked by a mark of the
  // same or higher class in between. The composite keeps the starter's alignment.
  std::vector<AlignedChar> out;
  out.reserve(chars.size());
  size_t starter = SIZE_MAX;
  int last_ccc = -1;  // class of the last character kept after the starter; -1: none
  for (const auto& ch : chars) {
    const int ccc = combining_class(ch.c);
    if (starter != SIZE_MAX && (last_ccc == -1 || last_ccc < ccc)) {
      if (const char32_t composite = compose_pair(out[starter].c, ch.c)) {
        out[starter].c = composite;
        continue;
      }
    }
    if (ccc == 0) {
      starter = out.size();
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    out.push_back(ch);
  }
  Builder b(normalized_.size());
  for (const auto& ch : out) b.push(ch.c, ch.a);
  b.finish(*this);
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
