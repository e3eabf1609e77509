// ember embed: sentence embeddings (or, with --hidden, the last hidden state per token), through
// the public API (include/ember/ember.h). A sparse model (SPLADE) gives sparse vectors: its
// non-zero entries as {"index", "value"}, in index order, as TEI's /embed_sparse does.
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"

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

int run_embed(const EmbedFlags& f) {
  ember::LoadOptions options = f.model.load_options();
  if (!f.pooling.empty()) options.pooling = f.pooling;  // checked by Model::load
  if (f.normalize) options.normalize = true;
  if (f.no_normalize) options.normalize = false;
  const auto inputs = read_inputs(f.texts);
  const ember::Model m = ember::Model::load(f.model.model, options);
  const ember::ModelInfo& info = m.info();
  if (!info.dtype_note.empty()) std::cerr << info.dtype_note << "\n";
  const int64_t h = info.hidden_size;
  const bool sparse = info.kind == ember::ModelKind::kSparse && !f.hidden;
  // A sentence-transformers prompt (the model's default one unless named) is prepended to each
  // text; with Pooling's include_prompt false, its tokens are left out of the pooling.
  ember::EmbedOptions prompt_options;
  prompt_options.prompt = f.prompt;
  if (!f.prompt_name.empty()) prompt_options.prompt_name = f.prompt_name;
  const std::string prompt = m.prompt_text(prompt_options);
  const int64_t pool_from =
      !prompt.empty() && !info.include_prompt && !f.hidden && !sparse ? m.prompt_length(prompt) : 0;

  std::string out;
  if (!f.jsonl && sparse)
    out = cat("{\"model\":", nlohmann::json(f.model.model).dump(),
              ",\"dimensions\":", info.vocab_size, ",\"sparse\":true,\"embeddings\":[");
  else if (!f.jsonl)
    out = cat("{\"model\":", nlohmann::json(f.model.model).dump(), ",\"dimensions\":", h,
              ",\"pooling\":\"", info.pooling,
              "\",\"normalized\":", info.normalize ? "true" : "false",
              f.hidden ? ",\"hidden_states\":[" : ",\"embeddings\":[");
  int64_t total_tokens = 0;
  size_t next = 0;
  // Runs the inputs in packed batches of at most batch_tokens tokens, printing as it goes.
  while (next < inputs.size()) {
    ember::Batch batch;
    const size_t first = next;
    while (next < inputs.size() && (batch.size() == 0 || batch.num_tokens() < f.batch_tokens)) {
      const auto& in = inputs[next++];
      EMBER_CHECK(prompt.empty() || !in.pair, ErrorKind::kInvalidInput,
                  "a prompt cannot be used with text pairs");
      batch.add(in.pair ? m.tokenize(in.text, *in.pair)
                        : m.tokenize(prompt.empty() ? in.text : prompt + in.text));
    }
    total_tokens += batch.num_tokens();
    auto r = m.run(batch, f.hidden || pool_from > 0 ? ember::kHidden
                          : sparse                  ? ember::kSparse
                                                    : ember::kPooled);
    if (pool_from > 0) {  // include_prompt false: pooled here, past the prompt's tokens
      r.pooled.clear();
      for (int64_t i = 0; i < batch.size(); ++i) {
        const auto v = m.pool(r.hidden.data() + batch.begin(i) * h, batch.length(i), pool_from);
        r.pooled.insert(r.pooled.end(), v.begin(), v.end());
      }
    }
    for (int64_t i = 0; i < batch.size(); ++i) {
      const size_t index = first + static_cast<size_t>(i);
      std::string item;
      if (sparse) {
        item = "[";
        const float* v = r.sparse.data() + i * r.vocab_size;
        for (int64_t k = 0; k < r.vocab_size; ++k) {
          if (v[k] == 0.0f) continue;
          if (item.size() > 1) item += ',';
          item += cat("{\"index\":", k, ",\"value\":");
          append_float(item, v[k]);
          item += '}';
        }
        item += ']';
      } else if (f.hidden) {
        const float* v = r.hidden.data() + batch.begin(i) * h;
        item += '[';
        for (int64_t t = 0; t < batch.length(i); ++t) {
          if (t) item += ',';
          append_floats(item, v + t * h, h);
        }
        item += ']';
      } else {
        append_floats(item, r.pooled.data() + i * h, h);
      }
      if (f.jsonl) {
        std::cout << "{\"index\":" << index << ",\"tokens\":" << batch.length(i)
                  << (sparse     ? ",\"sparse_embedding\":"
                      : f.hidden ? ",\"hidden_state\":"
                                 : ",\"embedding\":")
                  << item << "}\n";
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
