// The library's Pattern::find_matches over a regex: the matches and the gaps between them,
// covering the whole text in order (what NormalizedString::split consumes).
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/normalized_string.h"
#include "tokenizer/regex.h"

namespace ember::tok {

// invert: matches become gaps and gaps matches (the Split pre-tokenizer's `invert`).
std::vector<SplitMatch> find_matches(const Regex& re, std::string_view text, bool invert = false);

}  // namespace ember::tok
