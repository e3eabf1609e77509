// Single components against goldens made by the real `tokenizers` library
// (scripts/make_tokenizer_component_golden.py -> golden-components.json): decoders
// (BPEDecoder, CTC, in a Sequence) decode the same token lists to the same text; normalizers
// (Nmt, alone and in sequences) give the same normalized text, and the Unicode forms align
// every normalized character to the same original ones; pre-tokenizers
// (CharDelimiterSplit) give the same pieces with the same code-point offsets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace ember::tok {
namespace {

using nlohmann::json;

json goldens() {
  return json::parse(testing::read_file(testing::fixture("golden-components.json")));
}

TEST(ComponentGolden, DecodersMatchTheLibrary) {
  const json g = goldens();
  ASSERT_GE(g.at("decoders").size(), 5u);
  size_t checked = 0;
  for (const json& d : g.at("decoders")) {
    const auto decoder = make_decoder(d.at("decoder"));
    ASSERT_NE(decoder, nullptr) << d.at("decoder").dump();
    for (const json& c : d.at("cases")) {
      EXPECT_EQ(decoder->decode(c.at("tokens").get<std::vector<std::string>>()),
                c.at("text").get<std::string>())
          << d.at("decoder").dump() << " tokens " << c.at("tokens").dump();
      ++checked;
    }
  }
  EXPECT_GE(checked, 50u);
}

TEST(ComponentGolden, NormalizersMatchTheLibrary) {
  const json g = goldens();
  ASSERT_GE(g.at("normalizers").size(), 3u);
  for (const json& n : g.at("normalizers")) {
    const auto normalizer = make_normalizer(n.at("normalizer"));
    ASSERT_NE(normalizer, nullptr);
    for (const json& c : n.at("cases")) {
      const std::string text = c.at("text");
      NormalizedString s(text);
      normalizer->normalize(s);
      EXPECT_EQ(s.get(), c.at("normalized").get<std::string>())
          << n.at("normalizer").dump() << " text " << c.at("text").dump();
    }
  }
}

// Each normalized character's original range (what token offsets are made of) equals the
// library's, for NFC/NFD/NFKC/NFKD on marks out of canonical order, compatibility characters
// (U+00A0..U+00BF included) and Hangul.
TEST(ComponentGolden, UnicodeFormAlignmentsMatchTheLibrary) {
  const json g = goldens();
  ASSERT_GE(g.at("alignments").size(), 4u);
  size_t checked = 0;
  for (const json& n : g.at("alignments")) {
    const auto normalizer = make_normalizer(n.at("normalizer"));
    ASSERT_NE(normalizer, nullptr);
    for (const json& c : n.at("cases")) {
      const std::string text = c.at("text");
      NormalizedString s(text);
      normalizer->normalize(s);
      const auto chars = [&](size_t bytes) {
        return count_code_points(std::string_view(text).substr(0, bytes));
      };
      json got = json::array();
      const std::string& norm = s.get();
      for (size_t i = 0; i < norm.size();) {
        const size_t start = i;
        std::string one;
        append_utf8(one, decode_utf8(norm, i));
        const auto original = s.to_original(start, i);
        ASSERT_TRUE(original.has_value());
        got.push_back({one, {chars(original->first), chars(original->second)}});
      }
      EXPECT_EQ(got, c.at("chars")) << n.at("normalizer").dump() << " text " << c.at("text").dump();
      ++checked;
    }
  }
  EXPECT_GE(checked, 100u);
}

TEST(ComponentGolden, PreTokenizersMatchTheLibrary) {
  const json g = goldens();
  ASSERT_GE(g.at("pre_tokenizers").size(), 3u);
  for (const json& p : g.at("pre_tokenizers")) {
    const auto pre_tokenizer = make_pre_tokenizer(p.at("pre_tokenizer"));
    ASSERT_NE(pre_tokenizer, nullptr);
    for (const json& c : p.at("cases")) {
      const std::string text = c.at("text");
      PreTokenizedString s(text);
      pre_tokenizer->pre_tokenize(s);
      json pieces = json::array();
      for (const Split& split : s.splits()) {
        const auto [b, e] = split.normalized.offsets_original();
        const auto chars = [&](size_t n) {
          return count_code_points(std::string_view(text).substr(0, n));
        };
        pieces.push_back({split.normalized.get(), {chars(b), chars(e)}});
      }
      EXPECT_EQ(pieces, c.at("pieces")) << p.at("pre_tokenizer").dump() << " text " << text;
    }
  }
}

TEST(ComponentGolden, UnknownDecoderIsATypedErrorNamingIt) {
  try {
    make_decoder(json::parse(R"({"type": "NoSuchDecoder"})"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("NoSuchDecoder"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ember::tok
