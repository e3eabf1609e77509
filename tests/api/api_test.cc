// The public API as a user of libember.so sees it: this test includes only <ember/ember.h> (and
// reads the Hugging Face reference files itself), and links the shared library alone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ember/ember.h"

namespace {

const std::string kFixtures = std::string(EMBER_SOURCE_DIR) + "/tests/fixtures";

// inputs.json and the F32 tensors of reference.safetensors of one fixture.
struct Reference {
  nlohmann::json inputs;
  std::map<std::string, std::vector<float>> f32;
};

Reference load_reference(const std::string& name) {
  Reference r;
  const std::string dir = kFixtures + "/reference/" + name;
  std::ifstream in(dir + "/inputs.json");
  r.inputs = nlohmann::json::parse(in);
  std::ifstream st(dir + "/reference.safetensors", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(st)), {});
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  const auto header = nlohmann::json::parse(raw.substr(8, n));
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__" || it.value()["dtype"] != "F32") continue;
    const auto off = it.value()["data_offsets"];
    const size_t begin = off[0].get<size_t>(), end = off[1].get<size_t>();
    std::vector<float> v((end - begin) / 4);
    std::memcpy(v.data(), raw.data() + 8 + n + begin, end - begin);
    r.f32[it.key()] = std::move(v);
  }
  return r;
}

double cosine(const std::vector<float>& a, const float* b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

std::vector<std::string> texts(const Reference& r, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(r.inputs["texts"][i].get<std::string>());
  return out;
}

TEST(PublicApi, EmbedMatchesSentenceTransformers) {
  const auto ref = load_reference("all-MiniLM-L6-v2");
  const ember::Model m = ember::Model::load("all-MiniLM-L6-v2");
  EXPECT_EQ(m.info().kind, ember::ModelKind::kEmbedding);
  EXPECT_EQ(m.info().hidden_size, 384);
  EXPECT_EQ(m.info().pooling, "mean");
  EXPECT_TRUE(m.info().normalize);
  EXPECT_EQ(m.info().layers.size(), 6u);
  const auto t = texts(ref, 20);
  const auto e = m.embed(t);
  ASSERT_EQ(e.size(), t.size());
  const auto& pooled = ref.f32.at("pooled");
  for (size_t i = 0; i < t.size(); ++i) {
    ASSERT_EQ(e[i].size(), 384u);
    EXPECT_GE(cosine(e[i], pooled.data() + i * 384), 0.99999) << i;
  }
  const auto enc = m.tokenize("Hello world");
  EXPECT_EQ(enc.tokens.front(), "[CLS]");
  EXPECT_EQ(enc.ids.size(), enc.offsets.size());
  const auto hidden = m.hidden_states({"Hello world"});
  EXPECT_EQ(hidden[0].size(), enc.ids.size() * 384);
}

// Prompts as SentenceTransformer.encode applies them: the default prompt, a named one, a text,
// and, where Pooling's include_prompt is false, the prompt's tokens left out of the mean.
TEST(PublicApi, EmbedWithPromptsMatchesSentenceTransformers) {
  for (const std::string name : {"tiny-bert-prompts", "tiny-bert-prompts-noinc"}) {
    const auto ref = load_reference(name);
    const ember::Model m = ember::Model::load(kFixtures + "/models/" + name);
    EXPECT_EQ(m.info().prompts.at("query"), "query: ");
    const auto t = texts(ref, 4);
    const int64_t h = m.info().hidden_size;
    const auto check = [&](const std::vector<std::vector<float>>& e, const std::string& key) {
      ASSERT_EQ(e.size(), t.size());
      for (size_t i = 0; i < t.size(); ++i)
        EXPECT_GE(cosine(e[i], ref.f32.at(key).data() + i * h), 0.99999) << name << key << i;
    };
    check(m.embed(t), "default");
    ember::EmbedOptions passage;
    passage.prompt_name = "passage";
    check(m.embed(t, passage), "passage");
    ember::EmbedOptions text;
    text.prompt = "query: ";
    check(m.embed(t, text), "query");
    ember::EmbedOptions none;
    none.prompt = "";
    check(m.embed(t, none), "none");
    ember::EmbedOptions unknown;
    unknown.prompt_name = "nope";
    EXPECT_THROW((void)m.embed(t, unknown), ember::Error);
  }
}

// The low-level path a server takes with a prompt: prompt + text tokenized, one packed batch
// run for its hidden states, each input pooled past prompt_length() where include_prompt is
// false (from token 0 where it is true), as sentence-transformers encodes with that prompt.
TEST(PublicApi, PoolPastAPromptMatchesSentenceTransformers) {
  for (const std::string name : {"tiny-bert-prompts", "tiny-bert-prompts-noinc"}) {
    const auto ref = load_reference(name);
    const ember::Model m = ember::Model::load(kFixtures + "/models/" + name);
    EXPECT_EQ(m.info().include_prompt, name == "tiny-bert-prompts") << name;
    const std::string prompt = m.info().prompts.at("query");
    const int64_t from = m.info().include_prompt ? 0 : m.prompt_length(prompt);
    if (!m.info().include_prompt) {
      // sentence-transformers' count: [CLS] and the prompt's own tokens, not the final [SEP].
      const auto alone = m.tokenize(prompt);
      EXPECT_EQ(from, static_cast<int64_t>(alone.ids.size()) - 1) << name;
    }
    const auto t = texts(ref, 4);
    ember::Batch batch;
    for (const auto& text : t) batch.add(m.tokenize(prompt + text, ember::TokenizeOptions{}));
    const auto out = m.run(batch, ember::kHidden);
    const int64_t h = m.info().hidden_size;
    for (int64_t i = 0; i < batch.size(); ++i) {
      const auto v = m.pool(out.hidden.data() + batch.begin(i) * h, batch.length(i), from);
      ASSERT_EQ(static_cast<int64_t>(v.size()), h);
      EXPECT_GE(cosine(v, ref.f32.at("query").data() + i * h), 0.99999) << name << i;
    }
  }
}

TEST(PublicApi, ClassifyAndScoresMatchTheReference) {
  const auto ref = load_reference("tiny-bert-reranker");
  const ember::Model m = ember::Model::load(kFixtures + "/models/tiny-bert-reranker");
  ASSERT_EQ(m.info().kind, ember::ModelKind::kSequenceClassification);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (size_t i = 0; i < 5; ++i)
    pairs.emplace_back(ref.inputs["pairs"][i][0].get<std::string>(),
                       ref.inputs["pairs"][i][1].get<std::string>());
  const auto logits = m.classify(pairs);
  for (size_t i = 0; i < pairs.size(); ++i) {
    ASSERT_EQ(logits[i].size(), 1u);
    EXPECT_NEAR(logits[i][0], ref.f32.at("pair_logits")[i], 1e-4);
    EXPECT_NEAR(ember::Model::scores(logits[i])[0], ref.f32.at("pair_scores")[i], 1e-5);
  }
}

TEST(PublicApi, SparseEmbeddingsMatchSparseEncoder) {
  const auto ref = load_reference("tiny-bert-splade");
  const ember::Model m = ember::Model::load(kFixtures + "/models/tiny-bert-splade");
  ASSERT_EQ(m.info().kind, ember::ModelKind::kSparse);
  const auto t = texts(ref, 8);
  const auto v = m.embed_sparse(t);
  const auto& want = ref.f32.at("sparse");
  const size_t vocab = static_cast<size_t>(m.info().vocab_size);
  for (size_t i = 0; i < t.size(); ++i) {
    std::vector<float> dense(vocab, 0.0f);
    for (size_t k = 0; k < v[i].indices.size(); ++k) {
      if (k) {
        EXPECT_LT(v[i].indices[k - 1], v[i].indices[k]);
      }
      dense[static_cast<size_t>(v[i].indices[k])] = v[i].values[k];
    }
    for (size_t k = 0; k < vocab; ++k) ASSERT_NEAR(dense[k], want[i * vocab + k], 1e-4) << i;
  }
}

TEST(PublicApi, ErrorsAreTypedAndNothingAborts) {
  try {
    ember::Model::load("no-such-model-anywhere");
    FAIL();
  } catch (const ember::Error& e) {
    EXPECT_EQ(e.kind(), ember::ErrorKind::kNotFound);
  }
  const ember::Model m = ember::Model::load(kFixtures + "/models/tiny-bert-seqcls");
  try {
    m.embed_sparse({"a"});
    FAIL();
  } catch (const ember::Error& e) {
    EXPECT_EQ(e.kind(), ember::ErrorKind::kUnsupported);
  }
  ember::LoadOptions o;
  o.pooling = "median";
  try {
    ember::Model::load(kFixtures + "/models/tiny-bert-seqcls", o);
    FAIL();
  } catch (const ember::Error& e) {
    EXPECT_EQ(e.kind(), ember::ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("median"), std::string::npos);
  }
  // A bad input fails alone; the model keeps working.
  ember::Encoding bad;
  bad.ids = {2, 1 << 30, 3};
  bad.type_ids = {0, 0, 0};
  EXPECT_THROW(m.run({bad}, ember::kPooled), ember::Error);
  EXPECT_EQ(m.embed({"still fine"}).size(), 1u);
}

// Models are usable from several threads at once (calls are serialized per model).
TEST(PublicApi, OneModelFromSeveralThreads) {
  const ember::Model m = ember::Model::load(kFixtures + "/models/tiny-bert-seqcls");
  const auto want = m.embed({"a shared model", "called from threads"});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i)
        if (m.embed({"a shared model", "called from threads"}) != want) ++wrong;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

// Per-call tokenization rules: no cut, a cut from either side that keeps the special tokens, a
// pair cut longest first (the Hugging Face tokenizer's rule), and no special tokens at all.
TEST(PublicApi, TokenizeOptionsCutAsAsked) {
  ember::LoadOptions o;
  o.max_length = 16;
  const ember::Model m = ember::Model::load(kFixtures + "/models/tiny-bert-seqcls", o);
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "word" + std::to_string(i % 7) + " ";
  ember::TokenizeOptions none;
  none.truncation = ember::Truncation::kNone;
  const ember::Encoding all = m.tokenize(long_text, none);
  ASSERT_GT(all.ids.size(), 16u);
  ASSERT_EQ(all.special_tokens_mask.front(), 1);
  ASSERT_EQ(all.special_tokens_mask.back(), 1);

  ember::TokenizeOptions right = none, left = none;
  right.truncation = ember::Truncation::kRight;
  left.truncation = ember::Truncation::kLeft;
  const ember::Encoding r = m.tokenize(long_text, right), l = m.tokenize(long_text, left);
  ASSERT_EQ(r.ids.size(), 16u);
  ASSERT_EQ(l.ids.size(), 16u);
  for (size_t i = 0; i < 15; ++i) EXPECT_EQ(r.ids[i], all.ids[i]) << i;
  EXPECT_EQ(r.ids.back(), all.ids.back());
  EXPECT_EQ(l.ids.front(), all.ids.front());
  for (size_t i = 1; i < 16; ++i) EXPECT_EQ(l.ids[i], all.ids[all.ids.size() - 16 + i]) << i;
  EXPECT_EQ(m.tokenize(long_text).ids, r.ids);  // the model's rule as loaded: from the right

  // A pair loses tokens from its longer text: the short one is kept whole.
  const ember::Encoding short_alone = m.tokenize("short question", none);
  const ember::Encoding pair = m.tokenize("short question", long_text, right);
  ASSERT_EQ(pair.ids.size(), 16u);
  for (size_t i = 0; i < short_alone.ids.size(); ++i)
    EXPECT_EQ(pair.ids[i], short_alone.ids[i]) << i;
  EXPECT_EQ(pair.type_ids.back(), 1);

  ember::TokenizeOptions plain = none;
  plain.add_special_tokens = false;
  const ember::Encoding bare = m.tokenize("hello world", plain);
  EXPECT_EQ(bare.ids.size() + 2, m.tokenize("hello world").ids.size());
  for (auto s : bare.special_tokens_mask) EXPECT_EQ(s, 0);
  EXPECT_EQ(m.decode(m.tokenize("hello world").ids), "hello world");

  o.truncate = false;
  const ember::Model strict = ember::Model::load(kFixtures + "/models/tiny-bert-seqcls", o);
  ember::TokenizeOptions as_loaded;
  as_loaded.add_special_tokens = false;
  EXPECT_THROW(strict.tokenize(long_text), ember::Error);
  try {
    strict.tokenize(long_text, as_loaded);
    FAIL();
  } catch (const ember::Error& e) {
    EXPECT_EQ(e.kind(), ember::ErrorKind::kInvalidInput);
  }
}

// A packed Batch runs as the same inputs given one by one; bad batches are refused.
TEST(PublicApi, PackedBatchRunsLikeEncodings) {
  const ember::Model m = ember::Model::load(kFixtures + "/models/tiny-bert-seqcls");
  const std::vector<ember::Encoding> encs = {m.tokenize("first text"),
                                             m.tokenize("a pair", "of texts"), m.tokenize("x")};
  ember::Batch batch;
  for (const auto& e : encs) batch.add(e);
  ASSERT_EQ(batch.size(), 3);
  EXPECT_EQ(batch.length(1), static_cast<int64_t>(encs[1].ids.size()));
  EXPECT_EQ(batch.begin(2), static_cast<int64_t>(encs[0].ids.size() + encs[1].ids.size()));
  const unsigned want = ember::kPooled | ember::kHidden | ember::kSeqLogits;
  const ember::Outputs a = m.run(batch, want), b = m.run(encs, want);
  EXPECT_EQ(a.pooled, b.pooled);
  EXPECT_EQ(a.hidden, b.hidden);
  EXPECT_EQ(a.seq_logits, b.seq_logits);
  EXPECT_EQ(a.hidden.size(), static_cast<size_t>(batch.num_tokens() * a.hidden_size));

  ember::Encoding bad = encs[0];
  bad.type_ids.pop_back();
  EXPECT_THROW(batch.add(bad), ember::Error);
  EXPECT_THROW(m.run(ember::Batch{}, ember::kPooled), ember::Error);
  EXPECT_GT(m.compute_bytes(4096, 64), m.compute_bytes(128, 1));
}

// ember::quantize writes an int8 copy that loads as one, once.
TEST(PublicApi, QuantizeWritesAnInt8CopyOnce) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("ember_api_int8_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ember::quantize("all-MiniLM-L6-v2", dir.string());
  const ember::Model q = ember::Model::load(dir.string());
  EXPECT_EQ(q.info().quantization, "int8-dynamic");
  const auto ref = load_reference("all-MiniLM-L6-v2");
  const auto t = texts(ref, 8);
  const auto e = q.embed(t);
  // docs/quantization.md's target: mean cosine >= 0.99 to fp32 (single texts go lower).
  double sum = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    const double c = cosine(e[i], ref.f32.at("pooled").data() + i * 384);
    EXPECT_GE(c, 0.95) << i;
    sum += c;
  }
  EXPECT_GE(sum / static_cast<double>(t.size()), 0.99);
  try {
    ember::quantize("all-MiniLM-L6-v2", dir.string());
    FAIL();
  } catch (const ember::Error& err) {
    EXPECT_EQ(err.kind(), ember::ErrorKind::kInvalidInput);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
