// Byte-level BPE behaviour that the golden files do not pin down: the options of the BPE
// model, every Split behaviour, merges forms, errors. Expected values come from `tokenizers`
// 0.23.3 run on the same JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace ember::tok {
namespace {

using nlohmann::json;
using testing::fixture;
using testing::read_file;
using Offsets = std::vector<std::pair<size_t, size_t>>;

json tokenizer_json(json model, json pre_tokenizer) {
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model", model}};
}

// The small BPE of scripts' cross-check, with `extra` fields replacing the defaults.
Tokenizer small_bpe(const json& extra) {
  json model = {{"type", "BPE"},
                {"vocab",
                 {{"<unk>", 0},
                  {"a", 1},
                  {"b", 2},
                  {"c", 3},
                  {"ab", 4},
                  {"abc", 5},
                  {"##b", 6},
                  {"##c", 7},
                  {"a##b", 8},
                  {"c</w>", 9},
                  {"<0x78>", 10},
                  {"<0xC3>", 11},
                  {"<0xA9>", 12},
                  {"bc", 13}}},
                {"merges", json::array({json::array({"a", "b"}), json::array({"ab", "c"}),
                                        json::array({"b", "c"})})}};
  if (!extra.is_null()) model.update(extra);
  return Tokenizer::from_json(tokenizer_json(model, {{"type", "WhitespaceSplit"}}).dump());
}

struct Expected {
  std::vector<int32_t> ids;
  Offsets offsets;  // code points
};

void expect_encoding(const Tokenizer& t, const std::string& text, const Expected& want) {
  const Encoding e = t.encode(text, false);
  EXPECT_EQ(e.ids, want.ids) << text;
  EXPECT_EQ(e.char_offsets, want.offsets) << text;  // the library's Python offsets
}

TEST(Bpe, MergesByRank) {
  expect_encoding(small_bpe({}), "abc xabcx abx cab",
                  {{5, 5, 4, 3, 4}, {{0, 3}, {4, 7}, {10, 12}, {14, 15}, {15, 17}}});
}

TEST(Bpe, UnknownCharacters) {
  expect_encoding(small_bpe({{"unk_token", "<unk>"}}), "abc xabcx xxab é",
                  {{5, 0, 5, 0, 0, 0, 4, 0},
                   {{0, 3}, {4, 5}, {5, 8}, {8, 9}, {10, 11}, {11, 12}, {12, 14}, {15, 16}}});
  expect_encoding(small_bpe({{"unk_token", "<unk>"}, {"fuse_unk", true}}), "abc xxabxx éé",
                  {{5, 0, 4, 0, 0}, {{0, 3}, {4, 6}, {6, 8}, {8, 10}, {11, 13}}});
  expect_encoding(small_bpe({{"unk_token", "<unk>"}, {"byte_fallback", true}}), "xab é zz",
                  {{10, 4, 11, 12, 0, 0}, {{0, 1}, {1, 3}, {4, 5}, {4, 5}, {6, 7}, {7, 8}}});
}

TEST(Bpe, PrefixSuffixAndIgnoreMerges) {
  expect_encoding(
      small_bpe({{"continuing_subword_prefix", "##"},
                 {"end_of_word_suffix", "</w>"},
                 {"unk_token", "<unk>"},
                 {"merges", json::array()}}),
      "abc bc ac",
      {{1, 6, 0, 2, 0, 1, 0}, {{0, 1}, {1, 2}, {2, 3}, {4, 5}, {5, 6}, {7, 8}, {8, 9}}});
  expect_encoding(small_bpe({{"ignore_merges", true},
                             {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"cab", 3}, {"ab", 4}}},
                             {"merges", json::array({json::array({"a", "b"})})}}),
                  "cab cabab", {{3, 2, 4, 4}, {{0, 3}, {4, 5}, {5, 7}, {7, 9}}});
}

TEST(Bpe, DropoutIsIgnoredAtInference) {
  expect_encoding(small_bpe({{"dropout", 0.5}}), "abc", {{5}, {{0, 3}}});
  EXPECT_THROW(small_bpe({{"dropout", 2.0}}), Error);
}

TEST(Bpe, UnknownTokenMissingFromVocabularyFailsOnUse) {
  const Tokenizer t = small_bpe({{"unk_token", "<nope>"}});
  EXPECT_EQ(t.encode("ab", false).ids, (std::vector<int32_t>{4}));
  EXPECT_THROW(t.encode("x", false), Error);
}

TEST(Bpe, BadMergesAreInvalidInput) {
  for (const json& merges :
       {json::array({"a"}), json::array({"a b c"}), json::array({json::array({"a", "zz"})}),
        json::array({json::array({1, 2})})}) {
    try {
      small_bpe({{"merges", merges}});
      ADD_FAILURE() << merges;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << merges;
    }
  }
}

TEST(Bpe, MergesStringAndListFormsAgree) {
  const json strings = json::parse(read_file(fixture("bpe-byte-level.json")));
  ASSERT_TRUE(strings["model"]["merges"][0].is_string());
  json lists = strings;
  for (auto& m : lists["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    const size_t space = s.find(' ');
    m = json{s.substr(0, space), s.substr(space + 1)};
  }
  const Tokenizer a = Tokenizer::from_json(strings.dump());
  const Tokenizer b = Tokenizer::from_json(lists.dump());
  for (const char* text :
       {"Hello, world! It's   fine.", "Grüße aus Köln — 東京 👍🏽", "12345 x\n\n y"}) {
    const Encoding ea = a.encode(text);
    const Encoding eb = b.encode(text);
    EXPECT_EQ(ea.ids, eb.ids) << text;
    EXPECT_EQ(ea.offsets, eb.offsets) << text;
    EXPECT_GT(ea.size(), 3u);
  }
}

TEST(Bpe, LongWordsStayFast) {
  const Tokenizer t = Tokenizer::from_file(fixture("bpe-byte-level.json"));
  const std::string word(200000, 'a');
  const Encoding e = t.encode(word, false);
  EXPECT_EQ(e.offsets.back().second, word.size());
  EXPECT_EQ(t.decode(e.ids), word);
}

TEST(Bpe, InvalidUtf8IsInvalidInput) {
  const Tokenizer t = Tokenizer::from_file(fixture("bpe-split-regex.json"));
  for (const std::string bad : {"\xff", "ab\xc3", "\xed\xa0\x80", "x\xc0\xafy"}) {
    try {
      t.encode(bad);
      ADD_FAILURE() << "accepted invalid UTF-8";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    }
  }
}

TEST(Bpe, UnsupportedComponentsAreNamed) {
  const json base = json::parse(read_file(fixture("bpe-byte-level.json")));
  const std::pair<const char*, json> cases[] = {
      {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "Frobnicate"}}}}}},
      {"post_processor", {{"type", "Sequence"}, {"processors", {{{"type", "Frobnicate"}}}}}},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Frobnicate"}}}}}},
  };
  for (const auto& [key, value] : cases) {
    json j = base;
    j[key] = value;
    try {
      Tokenizer::from_json(j.dump());
      ADD_FAILURE() << key;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUnsupported) << key;
      EXPECT_NE(std::string(e.what()).find("Frobnicate"), std::string::npos) << e.what();
    }
  }
  json j = base;
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "(unclosed"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  EXPECT_THROW(Tokenizer::from_json(j.dump()), Error);
}

// Split pieces, read back from a BPE whose tokens are single characters: one word per piece.
Offsets split_pieces(const json& pattern, const std::string& behavior, bool invert) {
  json model = {{"type", "BPE"},
                {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}, {"-", 4}, {",", 5}}},
                {"merges", json::array()}};
  json pre = {{"type", "Split"}, {"pattern", pattern}, {"behavior", behavior}, {"invert", invert}};
  const Tokenizer t = Tokenizer::from_json(tokenizer_json(model, pre).dump());
  const Encoding e = t.encode("a--b,,c-d-", false);
  Offsets out;
  for (size_t i = 0; i < e.size(); ++i) {
    if (i > 0 && e.word_ids[i] == e.word_ids[i - 1]) {
      out.back().second = e.offsets[i].second;
    } else {
      out.push_back(e.offsets[i]);
    }
  }
  return out;
}

TEST(Split, EveryBehaviour) {
  const json re = {{"Regex", "-+|,"}};
  const json str = {{"String", "-"}};
  const Offsets isolated = {{0, 1}, {1, 3}, {3, 4}, {4, 5}, {5, 6},
                            {6, 7}, {7, 8}, {8, 9}, {9, 10}};
  const Offsets contiguous = {{0, 1}, {1, 3}, {3, 4}, {4, 6}, {6, 7}, {7, 8}, {8, 9}, {9, 10}};
  const Offsets with_prev = {{0, 3}, {3, 5}, {5, 6}, {6, 8}, {8, 10}};
  const Offsets with_next = {{0, 1}, {1, 4}, {4, 5}, {5, 7}, {7, 9}, {9, 10}};
  EXPECT_EQ(split_pieces(re, "Removed", false), (Offsets{{0, 1}, {3, 4}, {6, 7}, {8, 9}}));
  EXPECT_EQ(split_pieces(re, "Removed", true), (Offsets{{1, 3}, {4, 5}, {5, 6}, {7, 8}, {9, 10}}));
  EXPECT_EQ(split_pieces(re, "Isolated", false), isolated);
  EXPECT_EQ(split_pieces(re, "Isolated", true), isolated);
  EXPECT_EQ(split_pieces(re, "MergedWithPrevious", false), with_prev);
  EXPECT_EQ(split_pieces(re, "MergedWithPrevious", true), with_next);
  EXPECT_EQ(split_pieces(re, "MergedWithNext", false), with_next);
  EXPECT_EQ(split_pieces(re, "MergedWithNext", true), with_prev);
  EXPECT_EQ(split_pieces(re, "Contiguous", false), contiguous);
  EXPECT_EQ(split_pieces(re, "Contiguous", true), contiguous);
  EXPECT_EQ(split_pieces(str, "Removed", false), (Offsets{{0, 1}, {3, 7}, {8, 9}}));
  EXPECT_EQ(split_pieces(str, "Removed", true), (Offsets{{1, 2}, {2, 3}, {7, 8}, {9, 10}}));
  EXPECT_EQ(split_pieces(str, "MergedWithPrevious", false),
            (Offsets{{0, 2}, {2, 3}, {3, 8}, {8, 10}}));
  EXPECT_EQ(split_pieces(str, "MergedWithNext", false),
            (Offsets{{0, 1}, {1, 2}, {2, 7}, {7, 9}, {9, 10}}));
  EXPECT_EQ(split_pieces(str, "Contiguous", false),
            (Offsets{{0, 1}, {1, 3}, {3, 7}, {7, 8}, {8, 9}, {9, 10}}));
  EXPECT_THROW(split_pieces(re, "Sideways", false), Error);
}

TEST(Regex, FindAllAndEscape) {
  const Regex gpt2 = Regex::compile(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  using Matches = std::vector<std::pair<size_t, size_t>>;
  EXPECT_EQ(gpt2.find_all("it's  ok"), (Matches{{0, 2}, {2, 4}, {4, 5}, {5, 8}}));
  EXPECT_EQ(gpt2.find_all(""), Matches{});
  EXPECT_EQ(Regex::compile("x*").find_all("axb"), (Matches{{0, 0}, {1, 2}, {3, 3}}));
  EXPECT_EQ(Regex::literal("a.b(").find_all("a.b(axb("), (Matches{{0, 4}}));
  EXPECT_EQ(Regex::escape("a.b+"), "a\\.b\\+");
  EXPECT_THROW(Regex::compile("(unclosed"), Error);
}

}  // namespace
}  // namespace ember::tok
