// Regular expressions as the `tokenizers` library runs them: Oniguruma (UTF-8, its default
// syntax), so patterns such as GPT-2's `\p{L}`, `(?!\S)` classes match exactly as there.
// Shared by every component that takes a pattern (ByteLevel, Split, Replace).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::tok {

class Regex {
 public:
  // Compiled once; throws Error(kInvalidInput) naming the pattern if Oniguruma rejects it.
  static Regex compile(std::string_view pattern);
  // A regex matching `literal` exactly (the library's String patterns).
  static Regex literal(std::string_view literal) { return compile(escape(literal)); }
  // Backslash before every metacharacter, as Rust's regex::escape.
  static std::string escape(std::string_view literal);

  // Every non-overlapping match, left to right, as byte ranges [begin, end) of `text` (valid
  // UTF-8). Empty matches follow the Rust `onig` crate: one right after a match is skipped.
  // Safe to call from several threads at once.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Compiled;
  Regex(std::shared_ptr<const Compiled> c, std::string pattern)
      : compiled_(std::move(c)), pattern_(std::move(pattern)) {}
  std::shared_ptr<const Compiled> compiled_;
  std::string pattern_;
};

}  // namespace ember::tok
