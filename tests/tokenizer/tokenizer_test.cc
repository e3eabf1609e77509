// Behaviour that the golden files do not pin down: errors, invariants, truncation arithmetic.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace ember::tok {
namespace {

using nlohmann::json;
using testing::fixture;
using testing::read_file;

const Tokenizer& bert() {
  static const Tokenizer t = Tokenizer::from_file(fixture("bert-base-uncased.json"));
  return t;
}

Tokenizer bert_copy() {
  return Tokenizer::from_file(fixture("bert-base-uncased.json"));
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::kInternal;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Tokenizer, EncodesASentence) {
  const Encoding e = bert().encode("Hello, world!");
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "hello", ",", "world", "!", "[SEP]"}));
  EXPECT_EQ(e.ids, (std::vector<int32_t>{101, 7592, 1010, 2088, 999, 102}));
  EXPECT_EQ(e.special_tokens_mask, (std::vector<uint8_t>{1, 0, 0, 0, 0, 1}));
  EXPECT_EQ(e.offsets[1], (std::pair<size_t, size_t>{0, 5}));
  EXPECT_EQ(e.offsets[5], (std::pair<size_t, size_t>{0, 0}));
  EXPECT_EQ(bert().num_special_tokens(false), 2u);
  EXPECT_EQ(bert().num_special_tokens(true), 3u);
  EXPECT_EQ(bert().vocab_size(), 30522u);
  EXPECT_EQ(bert().token_to_id("[MASK]"), 103);
  EXPECT_EQ(bert().id_to_token(7592), "hello");
  EXPECT_FALSE(bert().token_to_id("no-such-token").has_value());
}

TEST(Tokenizer, ByteAndCharOffsetsDifferForMultibyteText) {
  const std::string text = "héllo wörld";
  const Encoding e = bert().encode(text, false);
  ASSERT_EQ(e.tokens, (std::vector<std::string>{"hello", "world"}));
  EXPECT_EQ(e.offsets[1], (std::pair<size_t, size_t>{7, 13}));
  EXPECT_EQ(e.char_offsets[1], (std::pair<size_t, size_t>{6, 11}));
  EXPECT_EQ(text.substr(e.offsets[1].first, e.offsets[1].second - e.offsets[1].first), "wörld");
}

TEST(Tokenizer, InvalidUtf8Throws) {
  for (const std::string& bad :
       {std::string("ab\xff"), std::string("\xc3"), std::string("a\xed\xa0\x80"),
        std::string("\xc0\xaf"), std::string("ok \xf4\x90\x80\x80")}) {
    EXPECT_EQ(kind_of([&] { bert().encode(bad); }), ErrorKind::kInvalidInput);
  }
  EXPECT_EQ(message_of([] { bert().encode("abc\xff"); }), "input is not valid UTF-8 at byte 3");
  EXPECT_EQ(kind_of([] { bert().encode_pair("fine", "x\x80"); }), ErrorKind::kInvalidInput);
}

TEST(Tokenizer, UnsupportedComponentIsNamed) {
  const json base = json::parse(read_file(fixture("bert-base-uncased.json")));
  const std::pair<const char*, const char*> cases[] = {{"normalizer", "Frobnicate"},
                                                       {"pre_tokenizer", "UnicodeScripts"},
                                                       {"post_processor", "Frobnicate"},
                                                       {"decoder", "Frobnicate"},
                                                       {"model", "WordLevel"}};
  for (const auto& [component, type] : cases) {
    json j = base;
    j[component] = {{"type", type}};
    const std::string text = j.dump();
    EXPECT_EQ(kind_of([&] { Tokenizer::from_json(text); }), ErrorKind::kUnsupported);
    EXPECT_EQ(
        message_of([&] { Tokenizer::from_json(text); }),
        std::string("tokenizer.json: ") + component + " type '" + type + "' is not supported");
  }
}

TEST(Tokenizer, MalformedJsonIsInvalidInput) {
  EXPECT_EQ(kind_of([] { Tokenizer::from_json("{not json"); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([] { Tokenizer::from_json("[]"); }), ErrorKind::kInvalidInput);
  json j = json::parse(read_file(fixture("bert-base-uncased.json")));
  j["normalizer"]["lowercase"] = "yes";
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json(j.dump()); }), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([] { Tokenizer::from_file("/no/such/tokenizer.json"); }), ErrorKind::kNotFound);
}

TEST(Tokenizer, OffsetsStayInsideTheInput) {
  const std::string texts[] = {"",
                               "   ",
                               "a\u0301b İstanbul ﬁ",
                               "野口里佳 Noguchi",
                               "\x01\x02 ctrl \t\n",
                               "👨‍👩‍👧 emoji [MASK] x",
                               std::string(300, 'z') + " end",
                               "ภาษาไทย مرحبا"};
  for (const std::string& t : texts) {
    for (const Encoding& e : {bert().encode(t), bert().encode_pair(t, "b " + t)}) {
      for (size_t i = 0; i < e.size(); ++i) {
        const size_t len = e.sequence_ids[i] == 1 ? t.size() + 2 : t.size();
        EXPECT_LE(e.offsets[i].first, e.offsets[i].second) << t;
        EXPECT_LE(e.offsets[i].second, len) << t;
        EXPECT_LE(e.char_offsets[i].second, e.offsets[i].second) << t;
      }
    }
  }
}

TEST(Tokenizer, DecodeRoundTripsLowercaseAscii) {
  for (const char* text : {"hello world", "the cat sat on the mat.", "tokenization is fun"}) {
    const Encoding e = bert().encode(text);
    EXPECT_EQ(bert().decode(e.ids), text);
  }
  EXPECT_EQ(bert().decode(bert().encode("hello").ids, false), "[CLS] hello [SEP]");
  // The library cleans up each token on its own, so split contractions stay apart.
  EXPECT_EQ(bert().decode(bert().encode("i can't").ids), "i can ' t");
  EXPECT_EQ(bert().decode(bert().encode("unaffable").ids), "unaffable");  // ## pieces glue
}

TEST(Tokenizer, PairEncoding) {
  const Encoding e = bert().encode_pair("how are you?", "fine, thanks");
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "how", "are", "you", "?", "[SEP]", "fine",
                                                ",", "thanks", "[SEP]"}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(e.sequence_ids, (std::vector<int32_t>{-1, 0, 0, 0, 0, -1, 1, 1, 1, -1}));
  EXPECT_EQ(e.offsets[6], (std::pair<size_t, size_t>{0, 4}));  // into the second text
  const Encoding plain = bert().encode_pair("a", "b", false);
  EXPECT_EQ(plain.tokens, (std::vector<std::string>{"a", "b"}));
}

TEST(Tokenizer, TruncationCountsSpecialTokens) {
  Tokenizer t = bert_copy();
  ASSERT_TRUE(t.truncation().has_value());  // all-MiniLM sets 128 in its tokenizer.json
  EXPECT_EQ(t.truncation()->max_length, 128u);
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word ";
  EXPECT_EQ(t.encode(long_text).size(), 128u);

  t.set_truncation(
      Truncation{6, 0, TruncationStrategy::kLongestFirst, TruncationDirection::kRight, true});
  const Encoding e = t.encode("one two three four five six seven");
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "one", "two", "three", "four", "[SEP]"}));
  ASSERT_EQ(e.overflowing.size(), 1u);
  EXPECT_EQ(e.overflowing[0].tokens,
            (std::vector<std::string>{"[CLS]", "five", "six", "seven", "[SEP]"}));

  t.set_truncation(
      Truncation{6, 2, TruncationStrategy::kLongestFirst, TruncationDirection::kLeft, true});
  const Encoding left = t.encode("one two three four five six seven");
  EXPECT_EQ(left.tokens,
            (std::vector<std::string>{"[CLS]", "four", "five", "six", "seven", "[SEP]"}));
  ASSERT_EQ(left.overflowing.size(), 2u);
  EXPECT_EQ(left.overflowing[0].tokens,
            (std::vector<std::string>{"[CLS]", "two", "three", "four", "five", "[SEP]"}));

  // Without return_overflowing (the default) the kept tokens are the same and nothing else is
  // returned.
  t.set_truncation(Truncation{6, 2, TruncationStrategy::kLongestFirst, TruncationDirection::kLeft});
  const Encoding kept = t.encode("one two three four five six seven");
  EXPECT_EQ(kept.tokens, left.tokens);
  EXPECT_EQ(kept.offsets, left.offsets);
  EXPECT_TRUE(kept.overflowing.empty());

  t.set_truncation(Truncation{7, 0, TruncationStrategy::kOnlySecond, TruncationDirection::kRight});
  const Encoding pair = t.encode_pair("a b", "c d e f g");
  EXPECT_EQ(pair.tokens, (std::vector<std::string>{"[CLS]", "a", "b", "[SEP]", "c", "d", "[SEP]"}));
  EXPECT_EQ(kind_of([&] { t.encode("x y z w v u t s"); }), ErrorKind::kInvalidInput);

  // Without special tokens the whole max_length is content.
  t.set_truncation(
      Truncation{3, 0, TruncationStrategy::kLongestFirst, TruncationDirection::kRight});
  EXPECT_EQ(t.encode("a b c d e", false).size(), 3u);

  EXPECT_EQ(kind_of([&] {
              t.set_truncation(
                  Truncation{4, 3, TruncationStrategy::kLongestFirst, TruncationDirection::kRight});
            }),
            ErrorKind::kInvalidInput);
  t.set_truncation(std::nullopt);
  EXPECT_EQ(t.encode(long_text).size(), 202u);
}

TEST(Tokenizer, AddedTokensAreCutBeforeNormalization) {
  const Encoding e = bert().encode("the [MASK] sat [mask]", false);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"the", "[MASK]", "sat", "[", "mask", "]"}));
  EXPECT_EQ(e.special_tokens_mask, (std::vector<uint8_t>(6, 0)));
  EXPECT_EQ(e.offsets[1], (std::pair<size_t, size_t>{4, 10}));
}

TEST(Tokenizer, LongWordIsOneUnknown) {
  const Encoding e = bert().encode(std::string(101, 'a'), false);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[UNK]"}));
  EXPECT_EQ(e.offsets[0], (std::pair<size_t, size_t>{0, 101}));
}

}  // namespace
}  // namespace ember::tok

namespace ember::tok {
namespace {

// Expected values come from tokenizers 0.23.3 with the same JSON edits.
TEST(Tokenizer, SequenceNormalizerAndWhitespacePreTokenizers) {
  json j = json::parse(read_file(fixture("bert-base-uncased.json")));
  j["normalizer"] = json::parse(R"({"type": "Sequence", "normalizers": [{"type": "NFKC"},
      {"type": "Lowercase"}, {"type": "Strip", "strip_left": true, "strip_right": true}]})");
  j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "WhitespaceSplit"}, {"type": "Whitespace"}]})");
  const Tokenizer t = Tokenizer::from_json(j.dump());
  const Encoding a = t.encode("  \uff28\uff45\uff4c\uff4c\uff4f, w\u00f6rld!! \ufb01ne  ", false);
  EXPECT_EQ(a.tokens, (std::vector<std::string>{"hello", ",", "[UNK]", "!", "##!", "fine"}));
  using P = std::pair<size_t, size_t>;
  EXPECT_EQ(a.char_offsets,
            (std::vector<P>{{2, 7}, {7, 8}, {9, 14}, {14, 15}, {15, 16}, {17, 20}}));
  // NFKC composes e + U+0301; the composite keeps the alignment of the "e" alone.
  const Encoding b = t.encode("e\u0301te\u0301 x2-y3", false);
  EXPECT_EQ(b.tokens, (std::vector<std::string>{"[UNK]", "x", "##2", "-", "y", "##3"}));
  EXPECT_EQ(b.char_offsets, (std::vector<P>{{0, 4}, {6, 7}, {7, 8}, {8, 9}, {9, 10}, {10, 11}}));
}

}  // namespace
}  // namespace ember::tok
