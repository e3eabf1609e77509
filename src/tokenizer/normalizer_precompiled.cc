// Precompiled: SentencePiece's normalization rules (XLM-R, T5, mBART...). As the library does
// it: each extended grapheme cluster shorter than 6 bytes is looked up whole; otherwise (or
// without a hit) each of its characters is looked up alone. A hit replaces the looked-up text
// with the rule's string; the change list keeps the library's alignment bookkeeping.
#include <utf8proc.h>

#include <nlohmann/json.hpp>

#include "tokenizer/normalizer.h"
#include "tokenizer/precompiled_charsmap.h"

namespace ember::tok {
namespace {

using Changes = std::vector<std::pair<char32_t, int>>;

// The library's replace(): the new characters replace the old ones one for one; extra new
// ones are insertions, and missing ones are removals charged to the last change so far.
void push_replacement(Changes& changes, std::string_view old_part, std::string_view new_part) {
  const auto old_count = static_cast<ptrdiff_t>(count_code_points(old_part));
  const size_t first = changes.size();
  for (size_t i = 0; i < new_part.size();) changes.emplace_back(decode_utf8(new_part, i), 0);
  const ptrdiff_t diff = static_cast<ptrdiff_t>(changes.size() - first) - old_count;
  if (diff > 0) {
    for (size_t k = changes.size() - static_cast<size_t>(diff); k < changes.size(); ++k) {
      changes[k].second = 1;
    }
  } else if (diff < 0 && !changes.empty()) {
    changes.back().second += static_cast<int>(diff);
  }
}

class Precompiled final : public Normalizer {
 public:
  explicit Precompiled(PrecompiledCharsmap map) : map_(std::move(map)) {}

  void normalize(NormalizedString& s) const override {
    const std::string& t = s.get();
    Changes changes;
    changes.reserve(t.size());
    bool modified = false;
    utf8proc_int32_t state = 0;
    char32_t prev = 0;
    size_t grapheme = 0;
    for (size_t i = 0; i <= t.size();) {
      const size_t start = i;
      bool boundary = i == t.size();
      if (!boundary) {
        const char32_t c = decode_utf8(t, i);
        boundary =
            start > 0 && utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(prev),
                                                          static_cast<utf8proc_int32_t>(c), &state);
        prev = c;
      } else {
        ++i;
      }
      if (boundary && start > grapheme) {
        modified |=
            transform_grapheme(std::string_view(t).substr(grapheme, start - grapheme), changes);
        grapheme = start;
      }
    }
    if (modified) s.transform(changes);
  }

 private:
  bool transform_grapheme(std::string_view g, Changes& changes) const {
    if (g.size() < 6) {
      if (const auto norm = map_.transform(g)) {
        push_replacement(changes, g, *norm);
        return true;
      }
    }
    bool modified = false;
    for (size_t i = 0; i < g.size();) {
      const size_t start = i;
      const char32_t c = decode_utf8(g, i);
      const std::string_view part = g.substr(start, i - start);
      if (const auto norm = map_.transform(part)) {
        modified = true;
        push_replacement(changes, part, *norm);
      } else {
        changes.emplace_back(c, 0);
      }
    }
    return modified;
  }

  PrecompiledCharsmap map_;
};

}  // namespace

std::unique_ptr<Normalizer> make_precompiled_normalizer(std::string_view base64) {
  return std::make_unique<Precompiled>(PrecompiledCharsmap::from_base64(base64));
}

}  // namespace ember::tok
