// ember embed: sentence embeddings (or, with --hidden, the last hidden state per token). A
// sparse model (SPLADE) gives sparse vectors: its non-zero entries as {"index", "value"}, in
// index order, as TEI's /embed_sparse does.
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "io/prompts.h"
#include "model/prompt_pooling.h"

namespace ember::cli {
namespace {

struct EmbedFlags {
  ModelFlags model;
  std::vector<std::string> texts;
  std::string pooling;
  bool normalize = false;
  bool no_normalize = false;
  bool jsonl = false;
  bool hidden = false;
  int64_t batch_tokens = 8192;
  std::string prompt_name;            // one of the model's sentence-transformers prompts
  std::optional<std::string> prompt;  // the prompt's text itself
};

io::PoolingMode parse_pooling(const std::string& s) {
  if (s == "cls") return io::PoolingMode::kCls;
  if (s == "mean") return io::PoolingMode::kMean;
  if (s == "max") return io::PoolingMode::kMax;
  if (s == "mean_sqrt_len") return io::PoolingMode::kMeanSqrtLen;
  if (s == "last") return io::PoolingMode::kLastToken;
  fail(ErrorKind::kInvalidInput, "--pooling '", s,
       "' is not one of cls, mean, max, mean_sqrt_len, last");
}

int run_embed(const EmbedFlags& f) {
  auto options = f.model.options();
  if (!f.pooling.empty()) options.pooling = parse_pooling(f.pooling);
  if (f.normalize) options.normalize = true;
  if (f.no_normalize) options.normalize = false;
  const auto inputs = read_inputs(f.texts);
  const auto engine = runtime::Engine::load(f.model.model, options);
  const int64_t h = engine->spec().hidden_size;
  const bool sparse = engine->info().splade.has_value() && !f.hidden;
  // A sentence-transformers prompt (the model's default one unless named) is prepended to each
  // text; with Pooling's include_prompt false, its tokens are left out of the pooling.
  const io::PromptConfig prompts = io::load_prompt_config(engine->info().dir);
  const std::string prompt =
      f.prompt
          ? *f.prompt
          : prompts.text_for(f.prompt_name.empty() ? std::nullopt
                                                   : std::optional<std::string>(f.prompt_name));
  const int64_t pool_from = !prompt.empty() && !prompts.include_prompt && !f.hidden && !sparse
                                ? model::prompt_length(engine->tokenize(prompt).special_tokens_mask)
                                : 0;

  std::string out;
  if (!f.jsonl && sparse)
    out = cat("{\"model\":", nlohmann::json(f.model.model).dump(),
              ",\"dimensions\":", engine->spec().vocab_size(), ",\"sparse\":true,\"embeddings\":[");
  else if (!f.jsonl)
    out = cat("{\"model\":", nlohmann::json(f.model.model).dump(), ",\"dimensions\":", h,
              ",\"pooling\":\"", io::pooling_mode_name(engine->info().pooling),
              "\",\"normalized\":", engine->info().normalize ? "true" : "false",
              f.hidden ? ",\"hidden_states\":[" : ",\"embeddings\":[");
  int64_t total_tokens = 0;
  size_t next = 0;
  // Runs the inputs in packed batches of at most batch_tokens tokens, printing as it goes.
  while (next < inputs.size()) {
    std::vector<tok::Encoding> encs;
    int64_t tokens = 0;
    const size_t first = next;
    while (next < inputs.size() && (encs.empty() || tokens < f.batch_tokens)) {
      const auto& in = inputs[next++];
      EMBER_CHECK(prompt.empty() || !in.pair, ErrorKind::kInvalidInput,
                  "a prompt cannot be used with text pairs");
      encs.push_back(in.pair ? engine->tokenize_pair(in.text, *in.pair)
                             : engine->tokenize(prompt.empty() ? in.text : prompt + in.text));
      tokens += static_cast<int64_t>(encs.back().ids.size());
    }
    total_tokens += tokens;
    const auto batch = runtime::Engine::pack(encs);
    auto r = engine->run(batch, f.hidden || pool_from > 0 ? runtime::kHidden
                                : sparse                  ? runtime::kSparse
                                                          : runtime::kPooled);
    if (pool_from > 0) {
      const auto& info = engine->info();
      r.pooled.clear();
      for (size_t i = 0; i < encs.size(); ++i) {
        const auto s = static_cast<int64_t>(i);
        const auto v =
            model::pool_after_prompt(r.hidden.data() + batch.seq_begin(s) * h, batch.seq_len(s), h,
                                     pool_from, info.pooling, info.normalize);
        r.pooled.insert(r.pooled.end(), v.begin(), v.end());
      }
    }
    for (size_t i = 0; i < encs.size(); ++i) {
      const size_t index = first + i;
      if (sparse) {
        std::string item = "[";
        const float* v = r.sparse.data() + i * r.vocab_size;
        for (int64_t k = 0; k < r.vocab_size; ++k) {
          if (v[k] == 0.0f) continue;
          if (item.size() > 1) item += ',';
          item += cat("{\"index\":", k, ",\"value\":");
          append_float(item, v[k]);
          item += '}';
        }
        item += ']';
        if (f.jsonl) {
          std::cout << "{\"index\":" << index << ",\"tokens\":" << encs[i].ids.size()
                    << ",\"sparse_embedding\":" << item << "}\n";
        } else {
          if (index) out += ',';
          out += item;
        }
        continue;
      }
      const float* v =
          f.hidden ? r.hidden.data() + batch.seq_begin(i) * h : r.pooled.data() + i * h;
      const int64_t n = f.hidden ? batch.seq_len(i) * h : h;
      std::string item;
      if (f.hidden) {
        item += '[';
        for (int64_t t = 0; t < batch.seq_len(i); ++t) {
          if (t) item += ',';
          append_floats(item, v + t * h, h);
        }
        item += ']';
      } else {
        append_floats(item, v, n);
      }
      if (f.jsonl) {
        std::cout << "{\"index\":" << index << ",\"tokens\":" << encs[i].ids.size()
                  << (f.hidden ? ",\"hidden_state\":" : ",\"embedding\":") << item << "}\n";
      } else {
        if (index) out += ',';
        out += item;
      }
    }
    if (f.jsonl) std::cout.flush();
  }
  if (!f.jsonl) std::cout << out << "],\"usage\":{\"prompt_tokens\":" << total_tokens << "}}\n";
  return 0;
}

}  // namespace

Runner add_embed(CLI::App& app) {
  auto f = std::make_shared<EmbedFlags>();
  f->model.add_to(app);
  app.add_option("texts", f->texts, "Texts to embed (default: JSON lines on stdin)");
  app.add_option("--pooling", f->pooling, "Override pooling: cls, mean, max, mean_sqrt_len, last");
  auto* norm = app.add_flag("--normalize", f->normalize, "L2-normalize the embeddings");
  app.add_flag("--no-normalize", f->no_normalize, "Do not L2-normalize")->excludes(norm);
  app.add_flag("--jsonl", f->jsonl, "One JSON object per input, streamed");
  app.add_flag("--hidden", f->hidden, "Output the last hidden state of every token");
  app.add_option("--batch-tokens", f->batch_tokens, "Tokens per packed batch")
      ->check(CLI::PositiveNumber);
  auto* name = app.add_option("--prompt-name", f->prompt_name,
                              "One of the model's sentence-transformers prompts (default: the "
                              "model's default_prompt_name, if any)");
  app.add_option("--prompt", f->prompt, "A prompt's text, prepended to each text")->excludes(name);
  return [f] { return run_embed(*f); };
}

}  // namespace ember::cli
