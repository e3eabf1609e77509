// The decoders of SentencePiece-converted tokenizers: Metaspace (XLM-R), and the Llama chain
// Replace("▁" -> " "), ByteFallback (<0xXX> runs back to UTF-8), Fuse, Strip.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/decoder.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/replace_pattern.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

using namespace json_fields;
using Tokens = std::vector<std::string>;

// Replacement characters become spaces; in the first token they are dropped instead unless
// the scheme is "never" (the library drops every one there, not only a leading one).
class MetaspaceDecoder final : public ChainDecoder {
 public:
  explicit MetaspaceDecoder(const MetaspaceOptions& o) : o_(o) {}
  Tokens decode_chain(Tokens tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      const bool drop = k == 0 && o_.prepend != PrependScheme::kNever;
      std::string out;
      const std::string& t = tokens[k];
      for (size_t i = 0; i < t.size();) {
        const size_t start = i;
        if (decode_utf8(t, i) != o_.replacement) {
          out.append(t, start, i - start);
        } else if (!drop) {
          out += ' ';
        }
      }
      tokens[k] = std::move(out);
    }
    return tokens;
  }

 private:
  MetaspaceOptions o_;
};

class ReplaceDecoder final : public ChainDecoder {
 public:
  ReplaceDecoder(ReplacePattern p, std::string content)
      : pattern_(std::move(p)), content_(std::move(content)) {}
  Tokens decode_chain(Tokens tokens) const override {
    for (std::string& t : tokens) {
      const auto matches = pattern_.find(t);
      if (matches.empty()) continue;
      std::string out;
      size_t last = 0;
      for (const auto& [b, e] : matches) {
        out.append(t, last, b - last);
        out += content_;
        last = e;
      }
      out.append(t, last, std::string::npos);
      t = std::move(out);
    }
    return tokens;
  }

 private:
  ReplacePattern pattern_;
  std::string content_;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "<0xXX>" -> the byte; also "<0x+X>", which Rust's from_str_radix accepts.
int byte_token(std::string_view t) {
  if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return -1;
  const int lo = hex_digit(t[4]);
  if (lo < 0) return -1;
  if (t[3] == '+') return lo;
  const int hi = hex_digit(t[3]);
  return hi < 0 ? -1 : hi * 16 + lo;
}

bool is_valid_utf8(std::string_view s) {
  try {
    validate_utf8(s);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Runs of byte tokens become their UTF-8 text, or one U+FFFD per byte when it is not UTF-8.
class ByteFallbackDecoder final : public ChainDecoder {
 public:
  Tokens decode_chain(Tokens tokens) const override {
    Tokens out;
    out.reserve(tokens.size());
    std::string bytes;
    size_t n_bytes = 0;
    const auto flush = [&] {
      if (n_bytes == 0) return;
      if (is_valid_utf8(bytes)) {
        out.push_back(bytes);
      } else {
        out.insert(out.end(), n_bytes, "\xEF\xBF\xBD");
      }
      bytes.clear();
      n_bytes = 0;
    };
    for (std::string& t : tokens) {
      const int b = byte_token(t);
      if (b >= 0) {
        bytes += static_cast<char>(b);
        ++n_bytes;
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    return out;
  }
};

class FuseDecoder final : public ChainDecoder {
 public:
  Tokens decode_chain(Tokens tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    return {std::move(all)};
  }
};

// Removes up to `start` leading and `stop` trailing `content` characters from each token.
class StripDecoder final : public ChainDecoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  Tokens decode_chain(Tokens tokens) const override {
    for (std::string& t : tokens) {
      size_t begin = 0;
      for (size_t k = 0; k < start_ && begin < t.size(); ++k) {
        size_t i = begin;
        if (decode_utf8(t, i) != content_) break;
        begin = i;
      }
      size_t end = t.size();
      for (size_t k = 0; k < stop_ && end > begin; ++k) {
        size_t char_start = 0;
        if (last_code_point(t, end, &char_start) != content_) break;
        end = char_start;
      }
      t = t.substr(begin, end - begin);
    }
    return tokens;
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

}  // namespace

std::unique_ptr<Decoder> make_spm_decoder(const nlohmann::json& j, const std::string& type) {
  constexpr std::string_view kWhat = "decoder";
  if (type == "Metaspace") {
    return std::make_unique<MetaspaceDecoder>(read_metaspace_options(j, kWhat));
  }
  if (type == "Replace") {
    auto spec = ReplaceSpec::from_json(j, kWhat);
    return std::make_unique<ReplaceDecoder>(std::move(spec.pattern), std::move(spec.content));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const std::string content = get_string(j, kWhat, "content", "");
    if (count_code_points(content) != 1) malformed(kWhat, "field 'content' must be one character");
    size_t i = 0;
    return std::make_unique<StripDecoder>(decode_utf8(content, i), get_uint(j, kWhat, "start", 0),
                                          get_uint(j, kWhat, "stop", 0));
  }
  return nullptr;
}

}  // namespace ember::tok
