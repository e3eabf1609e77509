// The SentencePiece path beyond the golden files: corrupt precompiled_charsmap fields, bad
// options, and the Unigram / byte-fallback / decoder rules on a tiny hand-made vocabulary.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/precompiled_charsmap.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace ember::tok {
namespace {

using nlohmann::json;
using testing::fixture;
using testing::read_file;

std::pair<ErrorKind, std::string> error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  return {ErrorKind::kInternal, "no error"};
}

json xlmr() {
  static const json j = json::parse(read_file(fixture("unigram-xlmr.json")));
  return j;
}

json with_charsmap(const std::string& base64) {
  json j = xlmr();
  j["normalizer"]["normalizers"][0]["precompiled_charsmap"] = base64;
  return j;
}

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

std::string le32(uint32_t v) {
  return {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
          static_cast<char>(v >> 24)};
}

TEST(Precompiled, CorruptCharsmapIsInvalidInputNamingTheField) {
  const std::string cases[] = {
      "not base64!",                                    // bad alphabet
      "QUJD=",                                          // bad length
      "QQ=A",                                           // data after padding
      "QR==",                                           // non-canonical trailing bits
      "",                                               // too short for the trie size
      base64(le32(400) + std::string(8, '\0')),         // trie size past the end
      base64(le32(4) + le32(0) + "\xC3\x28\0"),         // replacement blob not UTF-8
      base64(le32(0xFFFFFFFF) + std::string(64, 'a')),  // absurd trie size
  };
  for (const std::string& c : cases) {
    const std::string text = with_charsmap(c).dump();
    const auto [kind, message] = error_of([&] { Tokenizer::from_json(text); });
    EXPECT_EQ(kind, ErrorKind::kInvalidInput) << c;
    EXPECT_NE(message.find("precompiled_charsmap"), std::string::npos) << message;
  }
  const auto [kind, message] = error_of([] {
    json j = xlmr();
    j["normalizer"]["normalizers"][0]["precompiled_charsmap"] = 12;
    Tokenizer::from_json(j.dump());
  });
  EXPECT_EQ(kind, ErrorKind::kInvalidInput);
  EXPECT_NE(message.find("precompiled_charsmap"), std::string::npos) << message;
}

TEST(Precompiled, GarbageTrieNeverReadsOutsideTheData) {
  // Units whose offsets and values point anywhere: lookups must stay in bounds.
  std::string units;
  const uint32_t garbage[] = {0xFFFFFFFF, 0x0000FF61, 0x80000161, 0x7FFFFFFF, 0x00000362, 0x1FF};
  for (uint32_t u : garbage) units += le32(u);
  const std::string charsmap = base64(le32(static_cast<uint32_t>(units.size())) + units + "x");
  const PrecompiledCharsmap m = PrecompiledCharsmap::from_base64(charsmap);
  for (int c = 1; c < 256; ++c) {
    const std::string s(2, static_cast<char>(c));
    (void)m.transform(s);
  }
  Tokenizer t = Tokenizer::from_json(with_charsmap(charsmap).dump());
  const std::string text = "abc ÿ\xC3\xA1 x\xE2\x80\x83y";
  const Encoding e = t.encode(text);
  for (const auto& [b, end] : e.offsets) EXPECT_LE(end, text.size());
}

TEST(Precompiled, ShortestKeyWinsForAWholeGrapheme) {
  // The library's quirk: "ｅ" + U+0301 is one grapheme; its shortest key "ｅ" -> "e" replaces
  // all of it, so the accent disappears.
  const Tokenizer t = Tokenizer::from_json(xlmr().dump());
  const Encoding e = t.encode("\xEF\xBD\x85\xCC\x81", false);
  ASSERT_EQ(e.tokens.size(), 2u);
  EXPECT_EQ(e.tokens[1], "e");
  EXPECT_EQ(e.offsets[1], (std::pair<size_t, size_t>{0, 3}));
}

json tiny_unigram(bool byte_fallback, std::optional<int> unk_id) {
  json vocab = json::array({{"<unk>", 0.0},
                            {"\xE2\x96\x81", -2.0},
                            {"a", -1.0},
                            {"b", -1.0},
                            {"ab", -1.5},
                            {"\xE2\x96\x81"
                             "ab",
                             -1.0},
                            {"<0xE2>", -5.0},
                            {"<0x98>", -5.0},
                            {"<0x83>", -5.0}});
  json model = {{"type", "Unigram"}, {"vocab", vocab}, {"byte_fallback", byte_fallback}};
  model["unk_id"] = unk_id ? json(*unk_id) : json(nullptr);
  return {
      {"model", model},
      {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         json::array(
             {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}}};
}

TEST(Unigram, BestPathFusedUnknownsAndByteFallback) {
  const Tokenizer plain = Tokenizer::from_json(tiny_unigram(false, 0).dump());
  Encoding e = plain.encode(
      "ab zz\xE2\x98\x83"
      "a");
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"\xE2\x96\x81"
                                                "ab",
                                                "\xE2\x96\x81", "zz\xE2\x98\x83", "a"}));
  EXPECT_EQ(e.ids, (std::vector<int32_t>{5, 1, 0, 2}));
  EXPECT_EQ(e.offsets[2], (std::pair<size_t, size_t>{3, 8}));

  const Tokenizer bf = Tokenizer::from_json(tiny_unigram(true, 0).dump());
  e = bf.encode("a\xE2\x98\x83");
  EXPECT_EQ(e.tokens,
            (std::vector<std::string>{"\xE2\x96\x81", "a", "<0xE2>", "<0x98>", "<0x83>"}));
  EXPECT_EQ(e.offsets[3], (std::pair<size_t, size_t>{1, 4}));
  EXPECT_EQ(bf.decode(e.ids), "a\xE2\x98\x83");
  // A byte run that is not UTF-8 decodes to one U+FFFD per byte.
  EXPECT_EQ(bf.decode({2, 6, 7}), "a\xEF\xBF\xBD\xEF\xBF\xBD");
  // Bytes without their <0xXX> tokens fall back to the unknown token.
  e = bf.encode("z");
  EXPECT_EQ(e.ids.back(), 0);
}

TEST(Unigram, BadOptionsAreInvalidInput) {
  // No unk_id: loading works, an unknown character fails on use (as in the library).
  const Tokenizer no_unk = Tokenizer::from_json(tiny_unigram(false, std::nullopt).dump());
  EXPECT_EQ(no_unk.encode("ab").ids.size(), 1u);
  EXPECT_EQ(error_of([&] { no_unk.encode("z"); }).first, ErrorKind::kInvalidInput);
  EXPECT_EQ(error_of([] { Tokenizer::from_json(tiny_unigram(false, 99).dump()); }).first,
            ErrorKind::kInvalidInput);
  json j = tiny_unigram(false, 0);
  j["model"]["vocab"][1] = json::array({"x"});
  EXPECT_EQ(error_of([&] { Tokenizer::from_json(j.dump()); }).first, ErrorKind::kInvalidInput);
  // add_prefix_space=false contradicts the default prepend_scheme "always".
  j = tiny_unigram(false, 0);
  j["pre_tokenizer"]["add_prefix_space"] = false;
  auto [kind, message] = error_of([&] { Tokenizer::from_json(j.dump()); });
  EXPECT_EQ(kind, ErrorKind::kInvalidInput);
  EXPECT_NE(message.find("add_prefix_space"), std::string::npos);
  j["pre_tokenizer"]["prepend_scheme"] = "never";
  EXPECT_EQ(Tokenizer::from_json(j.dump()).encode("ab").tokens, (std::vector<std::string>{"ab"}));
  j["pre_tokenizer"]["prepend_scheme"] = "sometimes";
  std::tie(kind, message) = error_of([&] { Tokenizer::from_json(j.dump()); });
  EXPECT_EQ(kind, ErrorKind::kInvalidInput);
  EXPECT_NE(message.find("sometimes"), std::string::npos);
  j = tiny_unigram(false, 0);
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Regex", "(unclosed"}}}, {"content", ""}};
  EXPECT_EQ(error_of([&] { Tokenizer::from_json(j.dump()); }).first, ErrorKind::kInvalidInput);
}

TEST(Unigram, UnsupportedComponentsAreNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"normalizer", "Frobnicate"}, {"pre_tokenizer", "UnicodeScripts"}, {"decoder", "Frobnicate"}};
  for (const auto& [component, type] : cases) {
    json j = tiny_unigram(false, 0);
    j[component] = {{"type", type}};
    const auto [kind, message] = error_of([&] { Tokenizer::from_json(j.dump()); });
    EXPECT_EQ(kind, ErrorKind::kUnsupported);
    EXPECT_NE(message.find(type), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace ember::tok
