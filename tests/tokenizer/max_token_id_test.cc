// Tokenizer::max_token_id(): the largest id encode() can return, for the load-time check that
// a model's embedding table covers every id its tokenizer emits (issue #20).
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

json fixture_json(const std::string& name) {
  return json::parse(read_file(fixture(name + ".json")));
}

// The largest id of each fixture's vocabulary with its added tokens, from tokenizers 0.23.3:
// max(Tokenizer.get_vocab(with_added_tokens=True).values()).
TEST(MaxTokenId, FixturesMatchTheLibrarysVocabulary) {
  const std::pair<const char*, int32_t> cases[] = {
      {"bert-base-uncased", 30521}, {"wordpiece-cased", 3337}, {"bpe-byte-level", 4999},
      {"bpe-split-regex", 4999},    {"bpe-subword-unk", 1999}, {"unigram-xlmr", 4001},
      {"unigram-llama", 3999},
  };
  for (const auto& [name, want] : cases) {
    const Tokenizer t = Tokenizer::from_file(fixture(std::string(name) + ".json"));
    ASSERT_TRUE(t.max_token_id().has_value()) << name;
    EXPECT_EQ(*t.max_token_id(), want) << name;
  }
}

// Every id that comes out of encode, with special tokens, for single texts and pairs, is at
// most max_token_id().
TEST(MaxTokenId, BoundsEveryEmittedId) {
  const char* const texts[] = {"Hello, world!",     "[CLS] [MASK] <mask> <s></s>",
                               "déjà vu 東京 ½ x²", "\xF0\x9F\x98\x80 \xE2\x80\x8B",
                               "\xF4\x8F\xBF\xBD",  "a  b\tc\n"};
  for (const char* name : {"bert-base-uncased", "wordpiece-cased", "bpe-byte-level",
                           "bpe-split-regex", "bpe-subword-unk", "unigram-xlmr", "unigram-llama"}) {
    const Tokenizer t = Tokenizer::from_file(fixture(std::string(name) + ".json"));
    const int32_t max = t.max_token_id().value();
    for (const char* a : texts) {
      for (const Encoding& e : {t.encode(a), t.encode_pair(a, "second")}) {
        for (int32_t id : e.ids) EXPECT_LE(id, max) << name << " '" << a << "'";
      }
    }
  }
}

// Ids written in the file that lie outside the vocabulary count: a post-processor's special
// tokens (TemplateProcessing, BertProcessing, RobertaProcessing, inside a Sequence) and added
// tokens, which take the next free id after the vocabulary.
TEST(MaxTokenId, CountsSpecialAndAddedTokensOutsideTheVocabulary) {
  json bert = fixture_json("bert-base-uncased");
  bert["post_processor"]["special_tokens"]["[CLS]"]["ids"] = json::array({40000});
  Tokenizer t = Tokenizer::from_json(bert.dump());
  EXPECT_EQ(*t.max_token_id(), 40000);
  EXPECT_EQ(t.encode("hi").ids.front(), 40000);  // and it is emitted

  bert = fixture_json("bert-base-uncased");
  bert["post_processor"] =
      json::parse(R"({"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 31000]})");
  EXPECT_EQ(*Tokenizer::from_json(bert.dump()).max_token_id(), 31000);

  bert = fixture_json("bert-base-uncased");
  bert["added_tokens"].push_back({{"id", 0},
                                  {"content", "<new token>"},
                                  {"single_word", false},
                                  {"lstrip", false},
                                  {"rstrip", false},
                                  {"normalized", false},
                                  {"special", true}});
  t = Tokenizer::from_json(bert.dump());
  EXPECT_EQ(*t.max_token_id(), 30522);
  EXPECT_EQ(t.encode("a <new token>", false).ids.back(), 30522);

  json bpe = fixture_json("bpe-split-regex");  // Sequence[ByteLevel, TemplateProcessing]
  bpe["post_processor"]["processors"][1]["special_tokens"]["</s>"]["ids"] = json::array({7777});
  EXPECT_EQ(*Tokenizer::from_json(bpe.dump()).max_token_id(), 7777);

  bpe = fixture_json("bpe-byte-level");  // RobertaProcessing
  bpe["post_processor"]["cls"] = json::array({"<s>", 65536});
  EXPECT_EQ(*Tokenizer::from_json(bpe.dump()).max_token_id(), 65536);

  // Without a post-processor, only the vocabulary and the added tokens.
  bert = fixture_json("bert-base-uncased");
  bert["post_processor"] = nullptr;
  EXPECT_EQ(*Tokenizer::from_json(bert.dump()).max_token_id(), 30521);
}

// A vocabulary with a gap: the largest id, not the count.
TEST(MaxTokenId, LargestIdNotVocabularySize) {
  json j = json::parse(R"({"model": {"type": "WordPiece", "unk_token": "[UNK]",
      "vocab": {"[UNK]": 0, "a": 1, "b": 900}}, "pre_tokenizer": {"type": "Whitespace"}})");
  const Tokenizer t = Tokenizer::from_json(j.dump());
  EXPECT_EQ(t.vocab_size(), 3u);
  EXPECT_EQ(*t.max_token_id(), 900);
  EXPECT_EQ(t.encode("b").ids, std::vector<int32_t>{900});
}

// A special token id that is no int32 is the file's fault, not a silently wrapped id.
TEST(MaxTokenId, SpecialTokenIdOutsideInt32IsInvalidInput) {
  json bert = fixture_json("bert-base-uncased");
  bert["post_processor"]["special_tokens"]["[SEP]"]["ids"] = json::array({4294967295ULL});
  try {
    Tokenizer::from_json(bert.dump());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("[SEP]"), std::string::npos) << e.what();
  }
  json bpe = fixture_json("bpe-byte-level");
  bpe["post_processor"]["sep"] = json::array({"</s>", 3000000000ULL});
  EXPECT_THROW(Tokenizer::from_json(bpe.dump()), Error);
}

}  // namespace
}  // namespace ember::tok
