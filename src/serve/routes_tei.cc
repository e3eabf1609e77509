// text-embeddings-inference routes: POST /embed (and POST / and /invocations, as TEI routes
// them for embedding models), POST /embed_sparse, /embed_all, /similarity, /tokenize, /decode,
// GET /info, and the health routes GET /health, /ping, /. Shapes follow TEI's OpenAPI document;
// statuses follow TEI's server (docs/serve.md lists where they differ).
#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/errors.h"
#include "serve/request_cost.h"
#include "serve/routes.h"
#include "serve/served_model.h"

namespace ember::serve {
namespace {

// TEI answers the embedding routes on a classifier 424 ("Model is not an embedding model").
void require_embedder(const ServeContext& ctx) {
  if (ctx.model.info().kind == ember::ModelKind::kSequenceClassification)
    throw HttpError(424, error_type::kBackend, "Model is not an embedding model");
}

// A SPLADE model's embedding, as TEI's /embed and /similarity give it: its sparse vector,
// dense over the vocabulary (cut to `dimensions` if asked; never normalized: TEI refuses that).
void splade_dense_async(const ServeContext& ctx, const Request& req, Reply reply,
                        const nlohmann::json& inputs, const InputRules& rules,
                        std::optional<int64_t> dimensions, FormatEmbeddings format) {
  const auto t0 = Clock::now();
  TokenizedInputs tokenized = tokenize_inputs(inputs, ctx.model, rules);
  Timings timings{ms_between(t0, Clock::now()), 0, 0, tokenized.tokens};
  const int64_t vocab = ctx.model.info().vocab_size;
  const int64_t dims = dimensions.value_or(vocab);
  InferPlan plan;
  plan.answer_bytes =
      embeddings_answer_cost(static_cast<int64_t>(tokenized.sequences.size()), vocab, dims);
  plan.cache_scope = "embed_sparse";  // the same sparse rows as /embed_sparse's
  plan.outputs = ember::kSparse;
  plan.extract = [](const JobResult& r, size_t row) { return r.sparse[row]; };
  plan.format = [dims, tokens = timings.tokens,
                 format = std::move(format)](const std::vector<std::vector<float>>& rows) {
    Embeddings e;
    e.count = static_cast<int64_t>(rows.size());
    e.dims = dims;
    e.tokens = tokens;
    e.values.assign(rows.size() * static_cast<size_t>(dims), 0.0f);
    for (size_t i = 0; i < rows.size(); ++i)
      for (size_t k = 0; k + 1 < rows[i].size(); k += 2) {
        const auto index = static_cast<int64_t>(rows[i][k]);
        if (index < dims) e.values[i * static_cast<size_t>(dims) + index] = rows[i][k + 1];
      }
    return format(e);
  };
  infer_async(ctx, req, std::move(reply), std::move(tokenized), timings, std::move(plan));
}

// The rules of a TEI body with "inputs": its truncation and prompt fields over the server's.
InputRules tei_input_rules(const ServeContext& ctx, const Request& req,
                           const nlohmann::json& body) {
  if (!body.contains("inputs"))
    throw HttpError(422, error_type::kValidation, "missing field \"inputs\"");
  InputRules rules = input_rules(ctx, req);
  rules.truncate = get_bool(body, "truncate", false);
  rules.side = get_truncation_side(body);
  set_prompt(rules, body, ctx.prompts);
  return rules;
}

void embed(const ServeContext& ctx, const Request& req, const nlohmann::json& body, Reply reply) {
  require_embedder(ctx);
  InputRules rules = tei_input_rules(ctx, req, body);
  const bool normalize = get_bool(body, "normalize", true);
  const bool splade = ctx.model.info().kind == ember::ModelKind::kSparse;
  if (splade && normalize)
    throw HttpError(424, error_type::kBackend, "`normalize` is not available for SPLADE models");
  const auto dims =
      get_dimensions(body, splade ? ctx.model.info().vocab_size : ctx.model.info().hidden_size);
  FormatEmbeddings format = [](const Embeddings& e) {
    Response r;
    r.body.reserve(static_cast<size_t>(e.count * e.dims * 12 + 16));
    r.body += '[';
    for (int64_t i = 0; i < e.count; ++i) {
      if (i) r.body += ',';
      append_floats(r.body, e.values.data() + i * e.dims, e.dims);
    }
    r.body += ']';
    return r;
  };
  if (splade)
    return splade_dense_async(ctx, req, std::move(reply), body["inputs"], rules, dims,
                              std::move(format));
  embed_async(ctx, req, std::move(reply), body["inputs"], rules, normalize, dims,
              std::move(format));
}

// SPLADE vectors: [[{"index": i, "value": v} for each non-zero entry]; inputs], as TEI's
// /embed_sparse; a dense model answers 424, as TEI does.
void embed_sparse(const ServeContext& ctx, const Request& req, const nlohmann::json& body,
                  Reply reply) {
  if (ctx.model.info().kind != ember::ModelKind::kSparse)
    throw HttpError(424, error_type::kBackend,
                    "model is not an embedding model with splade pooling");
  InputRules rules = tei_input_rules(ctx, req, body);
  const auto t0 = Clock::now();
  TokenizedInputs tokenized = tokenize_inputs(body["inputs"], ctx.model, rules);
  Timings timings{ms_between(t0, Clock::now()), 0, 0, tokenized.tokens};
  InferPlan plan;
  plan.answer_bytes = sparse_answer_cost(static_cast<int64_t>(tokenized.sequences.size()),
                                         ctx.model.info().vocab_size);
  plan.cache_scope = "embed_sparse";
  plan.outputs = ember::kSparse;
  plan.extract = [](const JobResult& r, size_t row) { return r.sparse[row]; };
  plan.format = [](const std::vector<std::vector<float>>& rows) {
    Response r;
    r.body += '[';
    for (size_t i = 0; i < rows.size(); ++i) {
      if (i) r.body += ',';
      r.body += '[';
      for (size_t k = 0; k + 1 < rows[i].size(); k += 2) {
        if (k) r.body += ',';
        r.body += cat("{\"index\":", static_cast<int64_t>(rows[i][k]), ",\"value\":");
        append_float(r.body, rows[i][k + 1]);
        r.body += '}';
      }
      r.body += ']';
    }
    r.body += ']';
    return r;
  };
  infer_async(ctx, req, std::move(reply), std::move(tokenized), timings, std::move(plan));
}

// POST /similarity: the cosine similarity of source_sentence's embedding (not normalized;
// cosine needs no normalization) to each sentence's, as TEI (and sentence-transformers'
// default similarity) computes it.
void similarity(const ServeContext& ctx, const Request& req, const nlohmann::json& body,
                Reply reply) {
  require_embedder(ctx);
  const auto in = body.find("inputs");
  if (in == body.end() || !in->is_object())
    throw HttpError(422, error_type::kValidation,
                    "\"inputs\" must be {\"source_sentence\": string, \"sentences\": [string]}");
  const auto source = in->find("source_sentence");
  const auto sentences = in->find("sentences");
  if (source == in->end() || !source->is_string())
    throw HttpError(422, error_type::kValidation, "\"inputs.source_sentence\" must be a string");
  if (sentences == in->end() || !sentences->is_array())
    throw HttpError(422, error_type::kValidation, "\"inputs.sentences\" must be a list of strings");
  if (sentences->empty())
    throw HttpError(400, error_type::kEmpty, "`inputs.sentences` cannot be empty");
  nlohmann::json inputs = nlohmann::json::array();
  inputs.push_back(*source);
  for (const auto& s : *sentences) {
    if (!s.is_string())
      throw HttpError(422, error_type::kValidation,
                      "\"inputs.sentences\" must be a list of strings");
    inputs.push_back(s);
  }
  nlohmann::json params = nlohmann::json::object();
  if (const auto p = body.find("parameters"); p != body.end() && !p->is_null()) {
    if (!p->is_object())
      throw HttpError(422, error_type::kValidation, "\"parameters\" must be an object or null");
    params = *p;
  }
  InputRules rules = input_rules(ctx, req);
  rules.truncate = get_bool(params, "truncate", false);
  rules.side = get_truncation_side(params);
  set_prompt(rules, params, ctx.prompts);
  FormatEmbeddings format = [](const Embeddings& e) {
    const float* a = e.values.data();
    double aa = 0;
    for (int64_t k = 0; k < e.dims; ++k) aa += static_cast<double>(a[k]) * a[k];
    Response r;
    r.body += '[';
    for (int64_t i = 1; i < e.count; ++i) {
      const float* b = e.values.data() + i * e.dims;
      double ab = 0, bb = 0;
      for (int64_t k = 0; k < e.dims; ++k) {
        ab += static_cast<double>(a[k]) * b[k];
        bb += static_cast<double>(b[k]) * b[k];
      }
      // sentence-transformers' cos_sim normalizes each vector with its norm
      // clamped at 1e-12 (a zero vector: 0).
      const double cos = ab / (std::max(std::sqrt(aa), 1e-12) * std::max(std::sqrt(bb), 1e-12));
      if (i > 1) r.body += ',';
      append_float(r.body, static_cast<float>(cos));
    }
    r.body += ']';
    return r;
  };
  if (ctx.model.info().kind == ember::ModelKind::kSparse)
    return splade_dense_async(ctx, req, std::move(reply), inputs, rules, std::nullopt,
                              std::move(format));
  embed_async(ctx, req, std::move(reply), inputs, rules, /*normalize=*/false, std::nullopt,
              std::move(format));
}

// Last hidden state per token, special tokens included: [[[float; hidden]; tokens]; inputs].
void embed_all(const ServeContext& ctx, const Request& req, const nlohmann::json& body,
               Reply reply) {
  require_embedder(ctx);
  if (ctx.model.info().kind == ember::ModelKind::kSparse)  // as TEI
    throw HttpError(424, error_type::kBackend, "`embed_all` is not available for SPLADE models");
  InputRules rules = tei_input_rules(ctx, req, body);
  const auto t0 = Clock::now();
  TokenizedInputs tokenized = tokenize_inputs(body["inputs"], ctx.model, rules);
  Timings timings{ms_between(t0, Clock::now()), 0, 0, tokenized.tokens};
  const int64_t hidden = ctx.model.info().hidden_size;
  const int64_t json_bytes = hidden_states_json_bytes(tokenized.tokens, hidden);
  if (json_bytes > ctx.limits.max_response_bytes)
    throw HttpError(413, error_type::kValidation,
                    cat("the answer would hold ", tokenized.tokens, " tokens x ", hidden,
                        " floats, about ", mib(json_bytes), " of JSON; /embed_all answers at most ",
                        mib(ctx.limits.max_response_bytes),
                        " (--max-response-bytes): send fewer "
                        "or shorter inputs"));
  InferPlan plan;
  plan.answer_bytes = hidden_states_answer_cost(tokenized.tokens, hidden);
  plan.cache_scope = "embed_all";
  plan.outputs = ember::kHidden;
  plan.extract = [](const JobResult& r, size_t row) { return r.hidden[row]; };
  plan.format = [h = ctx.model.info().hidden_size](const std::vector<std::vector<float>>& rows) {
    Response r;
    r.body += '[';
    for (size_t i = 0; i < rows.size(); ++i) {
      if (i) r.body += ',';
      r.body += '[';
      const auto tokens = static_cast<int64_t>(rows[i].size()) / h;
      for (int64_t t = 0; t < tokens; ++t) {
        if (t) r.body += ',';
        append_floats(r.body, rows[i].data() + t * h, h);
      }
      r.body += ']';
    }
    r.body += ']';
    return r;
  };
  infer_async(ctx, req, std::move(reply), std::move(tokenized), timings, std::move(plan));
}

// ids (one list, or a list of lists) -> [text], TEI's `skip_special_tokens` (default true).
// As TEI (the Hugging Face decoder), an id outside the vocabulary is dropped, not refused;
// one that is not a u32 is a 422, an empty list a 400.
Response decode(const ServeContext& ctx, const Request&, const nlohmann::json& body) {
  const auto it = body.find("ids");
  if (it == body.end()) throw HttpError(422, error_type::kValidation, "missing field \"ids\"");
  std::vector<const nlohmann::json*> lists;
  if (it->is_array() && !it->empty() && it->front().is_array()) {
    for (const auto& l : *it) lists.push_back(&l);
  } else if (it->is_array()) {
    lists.push_back(&*it);
  } else {
    throw HttpError(422, error_type::kValidation, "\"ids\" must be a list of token ids or lists");
  }
  if (lists.size() > ctx.limits.max_inputs_per_request)
    throw HttpError(413, error_type::kValidation,
                    cat("batch size ", lists.size(), " > maximum allowed batch size ",
                        ctx.limits.max_inputs_per_request));
  const bool skip = get_bool(body, "skip_special_tokens", true);
  std::vector<std::vector<int32_t>> decoded(lists.size());
  for (size_t i = 0; i < lists.size(); ++i) {
    if (!lists[i]->is_array())
      throw HttpError(422, error_type::kValidation, "\"ids\" must be a list of token ids or lists");
    if (lists[i]->empty()) throw HttpError(400, error_type::kEmpty, "`ids` cannot be empty");
    for (const auto& v : *lists[i]) {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > UINT32_MAX)
        throw HttpError(422, error_type::kValidation,
                        cat("ids[", i, "]: token ids must be integers in [0, 2^32)"));
      if (v.get<uint64_t>() <= INT32_MAX)  // past that, no vocabulary has it: dropped too
        decoded[i].push_back(static_cast<int32_t>(v.get<uint64_t>()));
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& ids : decoded) out.push_back(ctx.model.decode(ids, skip));
  Response r;
  r.body = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

// [[{id, text, special, start, stop}]] per input; offsets are byte offsets into the text.
// At most --max-tokenize-bytes of text per request (the answer is ~100 bytes per token, and
// a token can be one byte); the answer is written as it is built, one token at a time.
Response tokenize(const ServeContext& ctx, const Request& req, const nlohmann::json& body) {
  const auto it = body.find("inputs");
  if (it == body.end()) throw HttpError(422, error_type::kValidation, "missing field \"inputs\"");
  std::vector<const std::string*> texts;
  if (it->is_string()) {
    texts.push_back(&it->get_ref<const std::string&>());
  } else if (it->is_array()) {
    for (const auto& t : *it) {
      if (!t.is_string()) throw HttpError(422, error_type::kValidation, "inputs must be strings");
      texts.push_back(&t.get_ref<const std::string&>());
    }
  } else {
    throw HttpError(422, error_type::kValidation, "inputs must be a string or a list of strings");
  }
  if (texts.empty()) throw HttpError(400, error_type::kEmpty, "`inputs` cannot be empty");
  for (const auto* t : texts)
    if (t->empty()) throw HttpError(400, error_type::kEmpty, "`inputs` cannot be empty");
  if (texts.size() > ctx.limits.max_inputs_per_request)
    throw HttpError(413, error_type::kValidation,
                    cat("batch size ", texts.size(), " > maximum allowed batch size ",
                        ctx.limits.max_inputs_per_request));
  // As TEI: the tokens (and their offsets) are those of the prompt and the text together.
  InputRules prompt_rules;
  set_prompt(prompt_rules, body, ctx.prompts);
  std::vector<std::string> prompted;
  if (!prompt_rules.prompt.empty()) {
    prompted.reserve(texts.size());
    for (auto& t : texts) t = &prompted.emplace_back(prompt_rules.prompt + *t);
  }
  int64_t total = 0, longest = 0;
  for (const auto* t : texts) {
    total += static_cast<int64_t>(t->size());
    longest = std::max(longest, static_cast<int64_t>(t->size()));
  }
  if (total > ctx.limits.max_tokenize_bytes)
    throw HttpError(413, error_type::kValidation,
                    cat("/tokenize takes at most ", ctx.limits.max_tokenize_bytes,
                        " bytes of text per request (--max-tokenize-bytes); this one has ", total));
  ember::TokenizeOptions tokenize_options;
  tokenize_options.add_special_tokens = get_bool(body, "add_special_tokens", true);
  tokenize_options.truncation = ember::Truncation::kNone;  // TEI's /tokenize never cuts
  if (req.memory) {
    const int64_t tokens = total + 4 * static_cast<int64_t>(texts.size());
    const int64_t answer = tokenize_answer_cost(tokens, total);
    req.memory->resize(req.memory->bytes() + tokenize_cost(longest, tokens) + answer,
                       "tokenizing the inputs");
    req.memory->hold_after_handler(answer);
  }
  const auto t0 = Clock::now();
  const auto quoted = [](std::string_view s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  Response r;
  std::string& out = r.body;
  out += '[';
  int64_t tokens = 0;
  for (size_t n = 0; n < texts.size(); ++n) {
    const std::string& text = *texts[n];
    ember::Encoding enc;
    try {
      enc = ctx.model.tokenize(text, tokenize_options);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kInvalidInput) throw;
      throw HttpError(422, error_type::kTokenizer, e.what());
    }
    if (n) out += ',';
    out += '[';
    for (size_t i = 0; i < enc.ids.size(); ++i) {
      const bool is_special = enc.special_tokens_mask[i] != 0;
      const auto [start, stop] = enc.offsets[i];
      if (i) out += ',';
      out += cat("{\"id\":", enc.ids[i], ",\"special\":", is_special ? "true" : "false");
      if (is_special) {
        out += ",\"start\":null,\"stop\":null,\"text\":" + quoted(enc.tokens[i]) + '}';
      } else {
        out += cat(",\"start\":", start, ",\"stop\":", stop,
                   ",\"text\":", quoted(std::string_view(text).substr(start, stop - start)), '}');
      }
    }
    out += ']';
    tokens += static_cast<int64_t>(enc.ids.size());
  }
  out += ']';
  r.timings.tokenization_ms = ms_between(t0, Clock::now());
  r.timings.tokens = tokens;
  return r;
}

// TEI's ModelType: {"embedding": {pooling}}, or for a sequence classifier {"classifier":
// {id2label, label2id}}, {"reranker": ...} when it has one label (what /rerank accepts).
nlohmann::json model_type(const ServeContext& ctx) {
  const ember::ModelInfo& cfg = ctx.model.info();
  if (cfg.kind != ember::ModelKind::kSequenceClassification)
    return {{"embedding", {{"pooling", ctx.model.info().pooling}}}};
  nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
  for (size_t i = 0; i < cfg.labels.size(); ++i) {
    id2label[std::to_string(i)] = cfg.labels[i];
    label2id[cfg.labels[i]] = i;
  }
  const nlohmann::json classifier = {{"id2label", id2label}, {"label2id", label2id}};
  return {{cfg.labels.size() == 1 ? "reranker" : "classifier", classifier}};
}

Response info(const ServeContext& ctx) {
  const ember::ModelInfo& mi = ctx.model.info();
  nlohmann::json j = {
      {"model_id", ctx.model_id},
      {"served_model_name", ctx.model_id},
      {"model_sha", nullptr},
      {"model_dtype", "float32"},
      {"model_type", model_type(ctx)},
      {"max_concurrent_requests", ctx.limits.max_queue},
      {"max_input_length", mi.max_length},
      {"max_batch_tokens", ctx.limits.max_batch_tokens},
      {"max_batch_requests", ctx.limits.max_batch_requests},
      {"max_client_batch_size", ctx.limits.max_inputs_per_request},
      {"auto_truncate", false},
      {"tokenization_workers", ctx.limits.http_threads},
      {"version", "0.1.0"},
      {"sha", nullptr},
      {"docker_label", nullptr},
      {"hidden_size", ctx.model.info().hidden_size},
      {"compute_threads", mi.threads},  // Ember's: this model's compute pool
  };
  Response r;
  r.body = j.dump();
  return r;
}

}  // namespace

void add_tei_routes(Router& router, const ServedModels& models) {
  const auto route = [&models](ModelRoute r) { return model_route(models, std::move(r)); };
  router.add("POST", "/embed", route(embed));
  router.add("POST", "/tokenize",
             route([](const ServeContext& ctx, const Request& req, const nlohmann::json& body,
                      Reply reply) { reply(tokenize(ctx, req, body)); }));
  router.add("POST", "/embed_sparse", route(embed_sparse));
  router.add("POST", "/embed_all", route(embed_all));
  router.add("POST", "/similarity", route(similarity));
  router.add("POST", "/decode",
             route([](const ServeContext& ctx, const Request& req, const nlohmann::json& body,
                      Reply reply) { reply(decode(ctx, req, body)); }));
  router.add("GET", "/info",
             model_route(
                 models,
                 [](const ServeContext& ctx, const Request&, const nlohmann::json&, Reply reply) {
                   reply(info(ctx));
                 },
                 /*parse=*/false));
  // POST / and /invocations (SageMaker) are the model's own task: embed, embed_sparse for a
  // SPLADE model, /rerank for a one-label classifier (a re-ranker), /predict for another.
  for (const char* path : {"/", "/invocations"})
    router.add("POST", path,
               route([](const ServeContext& ctx, const Request& req, const nlohmann::json& body,
                        Reply reply) {
                 const ember::ModelInfo& mi = ctx.model.info();
                 if (mi.kind == ember::ModelKind::kSequenceClassification)
                   return classify_task(ctx, req, body, std::move(reply));
                 if (mi.kind == ember::ModelKind::kSparse)
                   return embed_sparse(ctx, req, body, std::move(reply));
                 embed(ctx, req, body, std::move(reply));
               }));
  // TEI's health routes: /health, / (Inference API), /ping (SageMaker).
  for (const char* path : {"/health", "/", "/ping"})
    router.add(
        "GET", path,
        [](const Request&, Reply reply) {
          reply(Response{200, "text/plain", "", {}, {}, {}});
        },
        /*needs_auth=*/false);
}

}  // namespace ember::serve
