// A piece of input text under normalization. Every normalized byte keeps the range of original
// bytes it came from (its alignment), which is how token offsets point back into the caller's
// text after lowercasing, accent stripping, inserted spaces and removed control characters.
// Semantics follow the `tokenizers` library's NormalizedString: a replaced character keeps the
// alignment of the character it replaces, an inserted one takes that of the character before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/utf8.h"

namespace ember::tok {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A half-open byte range [begin, end).
struct ByteSpan {
  uint32_t begin = 0;
  uint32_t end = 0;
  bool operator==(const ByteSpan&) const = default;
};

// One piece of a pattern search over the normalized text: matches and the gaps between them,
// together covering the whole string in order.
struct SplitMatch {
  size_t begin = 0;
  size_t end = 0;
  bool is_match = false;
};

class NormalizedString {
 public:
  NormalizedString() = default;
  // `original` is not copied: it must outlive this object (it is the caller's input).
  explicit NormalizedString(std::string_view original);

  const std::string& get() const { return normalized_; }
  std::string_view original() const { return original_; }
  bool empty() const { return normalized_.empty(); }
  size_t size() const { return normalized_.size(); }
  // The byte range of original() within the whole input.
  std::pair<size_t, size_t> offsets_original() const { return {shift_, shift_ + original_.size()}; }
  // Alignment (relative to original()) of the normalized byte at `i`.
  ByteSpan alignment(size_t i) const { return alignments_[i]; }

  // Original range (in whole-input bytes) of normalized bytes [begin, end), as the library
  // converts token offsets. nullopt when the range is outside the string.
  std::optional<std::pair<size_t, size_t>> to_original(size_t begin, size_t end) const;

  // Whole-string edits.
  template <typename Keep>
  void filter(Keep keep);
  template <typename Map>
  void map(Map f);
  // Each character c is replaced by what expand(c, byte position, out) appends to `out` (a
  // std::u32string, cleared per character); all of it keeps c's alignment. This is the
  // library's transform with "replace, then insert" changes (ByteLevel, prepend).
  template <typename Expand>
  void expand(Expand f);
  // The library's transform over the whole string: each (c, change) is one character of the
  // new text; change 0 replaces the next old character (and takes its alignment), 1 inserts
  // (taking the alignment of the old character before), -n replaces and also drops the n old
  // characters after it. Old characters left unconsumed at the end are dropped.
  void transform(const std::vector<std::pair<char32_t, int>>& changes);
  // Replaces each byte range (sorted, disjoint, on char boundaries) by `content`; the new
  // characters take the alignment of the byte just before the range's end (the library's
  // NormalizedString::replace).
  void replace_ranges(const std::vector<std::pair<size_t, size_t>>& ranges,
                      std::string_view content);
  void lowercase();
  // For all-ASCII text: each byte b becomes the ASCII byte f(b), in place (alignments stay).
  template <typename F>
  void map_ascii(F f) {
    for (char& ch : normalized_) ch = static_cast<char>(f(static_cast<unsigned char>(ch)));
  }
  // Replaces every byte b by the UTF-8 bytes table[b] (ByteLevel's alphabet); each keeps the
  // alignment of the byte it replaces.
  void map_bytes(const std::string_view (&table)[256]);
  void nfd() { decompose(false); }
  void nfkd() { decompose(true); }
  void nfc() { compose(false); }
  void nfkc() { compose(true); }
  void strip(bool left, bool right);
  // Replaces every character for which pred is true by " c " (BertNormalizer's CJK rule).
  template <typename Pred>
  void pad_with_spaces(Pred pred);

  // A copy of normalized bytes [begin, end) (char boundaries) that keeps its alignments.
  NormalizedString slice(size_t begin, size_t end) const;
  std::vector<NormalizedString> split(const std::vector<SplitMatch>& matches,
                                      SplitBehavior behavior) const;
  // Each character for which pred is true is a match of its own; runs of others are gaps.
  template <typename Pred>
  std::vector<SplitMatch> find_chars(Pred pred) const;

 private:
  // Rebuilds the normalized text from (code point, alignment) pairs.
  class Builder;
  // Each character c becomes what f(c, byte position, out) appends to `out` (cleared per
  // character), all of it with c's alignment. Why not always rebuild: most normalizers leave
  // most text unchanged, so characters are rewritten in place (same UTF-8 width, alignments
  // untouched) and the text and alignments are copied only from the first character that
  // changes width or count.
  template <typename F>
  void rewrite(F f);
  void decompose(bool compat);
  void compose(bool compat);

  std::string_view original_;
  size_t shift_ = 0;
  std::string normalized_;
  std::vector<ByteSpan> alignments_;  // one per normalized byte
};

class NormalizedString::Builder {
 public:
  explicit Builder(size_t reserve) {
    text_.reserve(reserve);
    align_.reserve(reserve);
  }
  void push(char32_t c, ByteSpan a) {
    const size_t before = text_.size();
    append_utf8(text_, c);
    align_.insert(align_.end(), text_.size() - before, a);
  }
  // Copies the first `n` normalized bytes of s with their alignments.
  void copy_prefix(const NormalizedString& s, size_t n) {
    text_.append(s.normalized_, 0, n);
    align_.insert(align_.end(), s.alignments_.begin(),
                  s.alignments_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  void finish(NormalizedString& s) {
    s.normalized_ = std::move(text_);
    s.alignments_ = std::move(align_);
  }

 private:
  std::string text_;
  std::vector<ByteSpan> align_;
};

template <typename F>
void NormalizedString::rewrite(F f) {
  std::u32string out;
  const size_t n = normalized_.size();
  for (size_t i = 0; i < n;) {
    const size_t start = i;
    const char32_t c = decode_utf8(normalized_, i);
    out.clear();
    f(c, start, out);
    if (out.size() == 1 && out[0] == c) continue;
    if (out.size() == 1 && utf8_width(out[0]) == i - start) {
      std::string bytes;
      append_utf8(bytes, out[0]);
      normalized_.replace(start, bytes.size(), bytes);
      continue;
    }
    Builder b(n + 16);
    b.copy_prefix(*this, start);
    for (char32_t o : out) b.push(o, alignments_[start]);
    while (i < n) {
      const ByteSpan a = alignments_[i];
      const size_t pos = i;
      out.clear();
      f(decode_utf8(normalized_, i), pos, out);
      for (char32_t o : out) b.push(o, a);
    }
    b.finish(*this);
    return;
  }
}

template <typename Keep>
void NormalizedString::filter(Keep keep) {
  rewrite([&](char32_t c, size_t, std::u32string& out) {
    if (keep(c)) out.push_back(c);
  });
}

template <typename Map>
void NormalizedString::map(Map f) {
  rewrite([&](char32_t c, size_t, std::u32string& out) { out.push_back(f(c)); });
}

template <typename Expand>
void NormalizedString::expand(Expand f) {
  rewrite(f);
}

template <typename Pred>
void NormalizedString::pad_with_spaces(Pred pred) {
  rewrite([&](char32_t c, size_t, std::u32string& out) {
    if (pred(c)) out.push_back(U' ');
    out.push_back(c);
    if (pred(c)) out.push_back(U' ');
  });
}

template <typename Pred>
std::vector<SplitMatch> NormalizedString::find_chars(Pred pred) const {
  std::vector<SplitMatch> out;
  size_t gap_start = 0;
  for (size_t i = 0; i < normalized_.size();) {
    const size_t start = i;
    const char32_t c = decode_utf8(normalized_, i);
    if (pred(c)) {
      if (gap_start < start) out.push_back({gap_start, start, false});
      out.push_back({start, i, true});
      gap_start = i;
    }
  }
  if (gap_start < normalized_.size()) out.push_back({gap_start, normalized_.size(), false});
  return out;
}

}  // namespace ember::tok
