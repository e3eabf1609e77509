// SentencePiece's precompiled_charsmap (the "Precompiled" normalizer's data): base64 of a
// little-endian uint32 trie size in bytes, that many bytes of Darts double-array units, then a
// blob of NUL-terminated replacement strings that the trie's values index into.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember::tok {

// Strict RFC 4648 base64 (standard alphabet, canonical padding), as the library decodes it.
// nullopt on any defect.
std::optional<std::string> decode_base64(std::string_view text);

class PrecompiledCharsmap {
 public:
  // Throws Error(kInvalidInput) naming the field on bad base64, a trie past the end or a
  // blob that is not UTF-8.
  static PrecompiledCharsmap from_base64(std::string_view text);

  // The replacement for the shortest key that is a prefix of `chunk` (the library takes the
  // first common-prefix result), or nullopt when no key is a prefix. Never reads outside the
  // data, whatever the trie holds.
  std::optional<std::string_view> transform(std::string_view chunk) const;

 private:
  std::optional<std::string_view> replacement_at(uint32_t index) const;

  std::vector<uint32_t> units_;
  std::string blob_;
};

}  // namespace ember::tok
