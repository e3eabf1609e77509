#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ember::tok {

// What the Hugging Face `tokenizers` library returns from encode(), field for field.
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<std::string> tokens;
  std::vector<uint8_t> special_tokens_mask;             // 1 for tokens added by the template
  std::vector<std::pair<size_t, size_t>> offsets;       // byte offsets into the input text
  std::vector<std::pair<size_t, size_t>> char_offsets;  // the same, in Unicode code points
  std::vector<int32_t> sequence_ids;                    // 0 / 1 for A / B, -1 for specials
  std::vector<Encoding> overflowing;

  size_t size() const { return ids.size(); }
};

}  // namespace ember::tok
