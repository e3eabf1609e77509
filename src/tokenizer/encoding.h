#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ember::tok {

// What the Hugging Face `tokenizers` library returns from encode(), field for field.
//
// Offsets: `offsets` are byte ranges into the caller's UTF-8 text, what the library's Rust
// `Tokenizer::encode` returns. The Python binding (`tokenizers.Tokenizer.encode`) returns
// `Encoding.offsets` in characters instead (it calls `encode_char_offsets`); Python str
// indices are code points, so those equal `char_offsets` here. Offsets of tokens from the
// second sequence of a pair point into that second text. Tokens that the post-processor adds
// ([CLS], [SEP]) get (0, 0) in both. An added token found in the text ([MASK]) gets its real
// range and special_tokens_mask 0, as in the library.
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<std::string> tokens;
  std::vector<uint8_t> special_tokens_mask;             // 1 for tokens added by the template
  std::vector<std::pair<size_t, size_t>> offsets;       // byte offsets into the input text
  std::vector<std::pair<size_t, size_t>> char_offsets;  // the same, in Unicode code points
  std::vector<int32_t> sequence_ids;                    // 0 / 1 for A / B, -1 for specials
  std::vector<int32_t> word_ids;                        // pre-token index in its text; -1: special
  std::vector<Encoding> overflowing;

  size_t size() const { return ids.size(); }
};

}  // namespace ember::tok
