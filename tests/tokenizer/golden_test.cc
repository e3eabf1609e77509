// Parity with the `tokenizers` library: every case of the golden files written by
// scripts/make_tokenizer_golden.py must match field for field, overflowing pieces included.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace ember::tok {
namespace {

using nlohmann::json;
using testing::fixture;
using testing::read_file;

std::string escaped(const std::string& s) {
  return json(s).dump();
}

Truncation truncation_from(const json& j) {
  Truncation t;
  t.max_length = j.at("max_length").get<size_t>();
  t.stride = j.at("stride").get<size_t>();
  const auto s = j.at("strategy").get<std::string>();
  t.strategy = s == "only_first"    ? TruncationStrategy::kOnlyFirst
               : s == "only_second" ? TruncationStrategy::kOnlySecond
                                    : TruncationStrategy::kLongestFirst;
  t.direction =
      j.at("direction") == "left" ? TruncationDirection::kLeft : TruncationDirection::kRight;
  t.return_overflowing = true;  // the library always returns them
  return t;
}

template <typename T>
std::string first_difference(const std::vector<T>& got, const json& want) {
  const auto w = want.get<std::vector<T>>();
  for (size_t i = 0; i < std::max(got.size(), w.size()); ++i) {
    if (i >= got.size() || i >= w.size() || got[i] != w[i]) {
      std::ostringstream out;
      out << "first difference at position " << i << " (sizes " << got.size() << " vs " << w.size()
          << ")";
      return out.str();
    }
  }
  return "";
}

std::vector<std::vector<size_t>> pairs(const std::vector<std::pair<size_t, size_t>>& v) {
  std::vector<std::vector<size_t>> out;
  for (const auto& [a, b] : v) out.push_back({a, b});
  return out;
}

// Returns "" when equal, else a description of the first mismatch.
std::string compare(const Encoding& e, const json& want, int depth) {
  std::vector<int32_t> mask(e.special_tokens_mask.begin(), e.special_tokens_mask.end());
  const json& chars = want.contains("offsets") ? want["offsets"] : want["byte_offsets"];
  const std::pair<const char*, std::string> checks[] = {
      {"ids", first_difference(e.ids, want["ids"])},
      {"tokens", first_difference(e.tokens, want["tokens"])},
      {"type_ids", first_difference(e.type_ids, want["type_ids"])},
      {"special_tokens_mask", first_difference(mask, want["special_tokens_mask"])},
      {"byte_offsets", first_difference(pairs(e.offsets), want["byte_offsets"])},
      {"char_offsets", first_difference(pairs(e.char_offsets), chars)},
      {"sequence_ids", first_difference(e.sequence_ids, want["sequence_ids"])},
      {"word_ids", first_difference(e.word_ids, want["word_ids"])},
  };
  for (const auto& [name, diff] : checks) {
    if (!diff.empty()) return std::string(name) + ": " + diff;
  }
  const size_t n_over =
      depth == 0 ? want["overflowing"].size() : want["n_overflowing"].get<size_t>();
  if (e.overflowing.size() != n_over) {
    return "overflowing count " + std::to_string(e.overflowing.size()) + " vs " +
           std::to_string(n_over);
  }
  if (depth == 0) {
    for (size_t i = 0; i < e.overflowing.size(); ++i) {
      const std::string d = compare(e.overflowing[i], want["overflowing"][i], 1);
      if (!d.empty()) return "overflowing[" + std::to_string(i) + "] " + d;
    }
  }
  return "";
}

void run_golden(const std::string& golden_name) {
  const json g = json::parse(read_file(fixture(golden_name)));
  const std::string base = g.contains("fixture") ? g["fixture"].get<std::string>()
                           : g["tokenizer"].get<std::string>() == "bert-added"
                               ? "bert-base-uncased"
                               : g["tokenizer"].get<std::string>();
  json tokenizer_json = json::parse(read_file(fixture(base + ".json")));
  if (g.contains("replace")) {
    for (const auto& [key, value] : g["replace"].items()) tokenizer_json[key] = value;
  }
  if (g.contains("extra_added_tokens")) {
    for (const auto& t : g["extra_added_tokens"]) tokenizer_json["added_tokens"].push_back(t);
  }
  Tokenizer tok = Tokenizer::from_json(tokenizer_json.dump());
  auto file_truncation = tok.truncation();
  if (file_truncation) file_truncation->return_overflowing = true;
  ASSERT_GT(g["cases"].size(), 100u);
  size_t mismatches = 0;
  size_t compared = 0;
  for (const json& c : g["cases"]) {
    const std::string input = c["input"];
    const bool special = c["add_special_tokens"];
    if (!c.contains("truncation")) {
      tok.set_truncation(file_truncation);
    } else if (c["truncation"].is_null()) {
      tok.set_truncation(std::nullopt);
    } else {
      try {
        tok.set_truncation(truncation_from(c["truncation"]));
      } catch (const Error&) {
        ASSERT_TRUE(c.contains("error")) << "set_truncation refused " << c["truncation"];
        continue;
      }
    }
    std::string where = "input " + escaped(input);
    if (c.contains("pair")) where += " pair " + escaped(c["pair"]);
    if (c.contains("truncation")) where += " truncation " + c["truncation"].dump();
    where += special ? "" : " (no special tokens)";
    if (c.contains("error")) {
      EXPECT_THROW(c.contains("pair")
                       ? tok.encode_pair(input, c["pair"].get<std::string>(), special)
                       : tok.encode(input, special),
                   Error)
          << where << ": the library fails with " << c["error"];
      continue;
    }
    Encoding e;
    try {
      e = c.contains("pair") ? tok.encode_pair(input, c["pair"].get<std::string>(), special)
                             : tok.encode(input, special);
    } catch (const Error& err) {
      ADD_FAILURE() << where << ": threw " << err.what();
      ++mismatches;
      continue;
    }
    ++compared;
    const std::string diff = compare(e, c, 0);
    if (!diff.empty()) {
      ++mismatches;
      ADD_FAILURE() << where << ": " << diff;
    }
  }
  tok.set_truncation(file_truncation);
  for (const json& d : g["decode"]) {
    EXPECT_EQ(tok.decode(d["ids"].get<std::vector<int32_t>>(), d["skip_special_tokens"]),
              d["text"].get<std::string>());
  }
  EXPECT_GT(compared, 100u);
  EXPECT_EQ(mismatches, 0u) << "of " << g["cases"].size() << " cases in " << golden_name;
}

TEST(TokenizerGolden, BertBaseUncased) {
  run_golden("golden-bert-base-uncased.json");
}
TEST(TokenizerGolden, WordPieceCased) {
  run_golden("golden-wordpiece-cased.json");
}
TEST(TokenizerGolden, BertWithExtraAddedTokens) {
  run_golden("golden-bert-added.json");
}
TEST(TokenizerGolden, BpeByteLevel) {
  run_golden("golden-bpe-byte-level.json");
}
TEST(TokenizerGolden, BpeByteLevelWithPrefixSpace) {
  run_golden("golden-bpe-byte-level-prefix.json");
}
TEST(TokenizerGolden, BpeSplitRegex) {
  run_golden("golden-bpe-split-regex.json");
}
TEST(TokenizerGolden, BpeSubwordPrefixSuffixUnk) {
  run_golden("golden-bpe-subword-unk.json");
}
TEST(TokenizerGolden, UnigramXlmr) {
  run_golden("golden-unigram-xlmr.json");
}
TEST(TokenizerGolden, UnigramLlamaByteFallback) {
  run_golden("golden-unigram-llama.json");
}
TEST(TokenizerGolden, UnigramLlamaLegacyNormalizers) {
  run_golden("golden-unigram-llama-legacy.json");
}
// The Unicode normalizers: compatibility decompositions (U+00A0..U+00BF included) and the
// alignments of reordered combining marks, visible in byte-level tokens' offsets.
TEST(TokenizerGolden, BpeSplitRegexNfc) {
  run_golden("golden-bpe-split-regex-nfc.json");
}
TEST(TokenizerGolden, BpeSplitRegexNfkc) {
  run_golden("golden-bpe-split-regex-nfkc.json");
}
TEST(TokenizerGolden, BpeByteLevelNfkd) {
  run_golden("golden-bpe-byte-level-nfkd.json");
}
TEST(TokenizerGolden, WordPieceCasedNfkc) {
  run_golden("golden-wordpiece-cased-nfkc.json");
}

}  // namespace
}  // namespace ember::tok
