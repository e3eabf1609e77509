// NormalizedString edits described as change lists (Precompiled) or replaced ranges (Replace,
// Metaspace), with the alignment rules of the library's transform_range.
#include "tokenizer/normalized_string.h"

namespace ember::tok {

void NormalizedString::transform(const std::vector<std::pair<char32_t, int>>& changes) {
  Builder b(normalized_.size() + 8);
  const size_t size = normalized_.size();
  size_t pos = 0;  // next old byte to consume
  auto consume = [&] {
    if (pos < size) pos += utf8_len(static_cast<unsigned char>(normalized_[pos]));
  };
  for (const auto& [c, change] : changes) {
    ByteSpan a{0, 0};
    if (change > 0) {
      if (pos >= 1) a = alignments_[pos - 1];
    } else if (pos < size) {
      a = alignments_[pos];
    } else if (size > 0) {
      a = alignments_[size - 1];  // the library would index past the end here
    }
    if (change <= 0) consume();
    for (int k = change; k < 0; ++k) consume();
    b.push(c, a);
  }
  b.finish(*this);
}

void NormalizedString::replace_ranges(const std::vector<std::pair<size_t, size_t>>& ranges,
                                      std::string_view content) {
  if (ranges.empty()) return;
  std::string text;
  std::vector<ByteSpan> align;
  text.reserve(normalized_.size() + ranges.size() * content.size());
  align.reserve(text.capacity());
  size_t last = 0;
  for (const auto& [begin, end] : ranges) {
    text.append(normalized_, last, begin - last);
    align.insert(align.end(), alignments_.begin() + static_cast<ptrdiff_t>(last),
                 alignments_.begin() + static_cast<ptrdiff_t>(begin));
    const ByteSpan a = end >= 1 ? alignments_[end - 1] : ByteSpan{0, 0};
    text.append(content);
    align.insert(align.end(), content.size(), a);
    last = end;
  }
  text.append(normalized_, last, std::string::npos);
  align.insert(align.end(), alignments_.begin() + static_cast<ptrdiff_t>(last), alignments_.end());
  normalized_ = std::move(text);
  alignments_ = std::move(align);
}

}  // namespace ember::tok
