#include "tokenizer/precompiled_charsmap.h"

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Darts unit fields.
bool has_leaf(uint32_t u) {
  return ((u >> 8) & 1) == 1;
}
uint32_t value(uint32_t u) {
  return u & ((1u << 31) - 1);
}
uint32_t label(uint32_t u) {
  return u & ((1u << 31) | 0xFF);
}
size_t offset(uint32_t u) {
  return size_t{u >> 10} << ((u & (1u << 9)) >> 6);
}

[[noreturn]] void bad(std::string_view detail) {
  fail(ErrorKind::kInvalidInput, "tokenizer.json: normalizer: field 'precompiled_charsmap' ",
       detail);
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[k] = base64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const uint32_t n = static_cast<uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
    // Canonical: the bits that padding leaves over must be zero.
    if ((pad == 2 && (n & 0xFFFF) != 0) || (pad == 1 && (n & 0xFF) != 0)) return std::nullopt;
  }
  return out;
}

PrecompiledCharsmap PrecompiledCharsmap::from_base64(std::string_view text) {
  const std::optional<std::string> bytes = decode_base64(text);
  if (!bytes) bad("is not valid base64");
  PrecompiledCharsmap m;
  if (bytes->size() < 4) bad(cat("is too short (", bytes->size(), " bytes) for its trie size"));
  const auto byte = [&](size_t i) { return uint32_t{static_cast<unsigned char>((*bytes)[i])}; };
  const uint32_t trie_size = byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24;
  const size_t units = trie_size / 4;
  if (units > (bytes->size() - 4) / 4) {
    bad(cat("declares a trie of ", trie_size, " bytes but holds only ", bytes->size() - 4));
  }
  m.units_.resize(units);
  for (size_t i = 0; i < units; ++i) {
    const size_t p = 4 + 4 * i;
    m.units_[i] = byte(p) | byte(p + 1) << 8 | byte(p + 2) << 16 | byte(p + 3) << 24;
  }
  m.blob_ = bytes->substr(4 + 4 * units);
  try {
    validate_utf8(m.blob_);
  } catch (const Error&) {
    bad("holds replacement strings that are not valid UTF-8");
  }
  return m;
}

std::optional<std::string_view> PrecompiledCharsmap::replacement_at(uint32_t index) const {
  if (index > blob_.size()) return std::nullopt;
  if (index < blob_.size() && (static_cast<unsigned char>(blob_[index]) & 0xC0) == 0x80) {
    return std::nullopt;  // not a character boundary
  }
  const size_t end = blob_.find('\0', index);
  return std::string_view(blob_).substr(index, end == std::string::npos ? end : end - index);
}

std::optional<std::string_view> PrecompiledCharsmap::transform(std::string_view chunk) const {
  if (units_.empty()) return std::nullopt;
  size_t node = offset(units_[0]);
  for (const char ch : chunk) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) break;
    node ^= c;
    if (node >= units_.size()) return std::nullopt;
    const uint32_t unit = units_[node];
    if (label(unit) != c) return std::nullopt;
    node ^= offset(unit);
    if (has_leaf(unit)) {
      if (node >= units_.size()) return std::nullopt;
      return replacement_at(value(units_[node]));
    }
  }
  return std::nullopt;
}

}  // namespace ember::tok
