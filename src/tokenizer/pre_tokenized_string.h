// The input after added-token extraction: an ordered list of splits, each a NormalizedString
// that is either still text (tokens empty) or already tokenized (an added token, or after the
// model ran). Pre-tokenizers only cut the untokenized splits further.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/normalized_string.h"

namespace ember::tok {

// A model or added-token output; [begin, end) are bytes of the split's normalized text.
struct Token {
  int32_t id = 0;
  std::string value;
  size_t begin = 0;
  size_t end = 0;
};

struct Split {
  NormalizedString normalized;
  std::optional<std::vector<Token>> tokens;
};

class PreTokenizedString {
 public:
  explicit PreTokenizedString(std::string_view original) {
    splits_.push_back({NormalizedString(original), std::nullopt});
  }

  // Replaces each untokenized split by fn(split) (a vector<Split>); empty pieces are dropped.
  template <typename Fn>
  void split(Fn fn) {
    std::vector<Split> next;
    next.reserve(splits_.size());
    for (auto& s : splits_) {
      if (s.tokens) {
        next.push_back(std::move(s));
        continue;
      }
      for (auto& piece : fn(std::move(s.normalized))) {
        if (!piece.normalized.empty()) next.push_back(std::move(piece));
      }
    }
    splits_ = std::move(next);
  }

  // split() for a function that returns plain NormalizedStrings.
  template <typename Fn>
  void split_text(Fn fn) {
    split([&](NormalizedString&& s) {
      std::vector<Split> out;
      for (auto& piece : fn(std::move(s))) out.push_back({std::move(piece), std::nullopt});
      return out;
    });
  }

  std::vector<Split>& splits() { return splits_; }
  const std::vector<Split>& splits() const { return splits_; }

 private:
  std::vector<Split> splits_;
};

}  // namespace ember::tok
