// text-embeddings-inference routes on a sequence-classification head: POST /predict (a text,
// a pair, or a batch of [text] and [text, text] items -> labels by score) and POST /rerank (a
// cross-encoder over (query, text) pairs -> texts by score). Scores follow TEI: softmax over
// several labels, sigmoid for one, the logits themselves with "raw_scores". A model without the
// head, or a /rerank model with more than one label, is refused with TEI's 424 (errors.cc).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/errors.h"
#include "serve/request_cost.h"
#include "serve/routes.h"
#include "serve/served_model.h"

namespace ember::serve {
namespace {

void require_classifier(const ServeContext& ctx) {
  if (ctx.model.info().kind != ember::ModelKind::kSequenceClassification)
    throw Error(ErrorKind::kUnsupported, "model is not a classifier model");
}

std::vector<float> scores(const float* logits, int64_t n, bool raw) {
  std::vector<float> s(logits, logits + n);
  return raw ? s : ember::Model::scores(s);
}

InputRules rules_of(const ServeContext& ctx, const Request& req, const nlohmann::json& body) {
  InputRules rules = input_rules(ctx, req);
  rules.truncate = get_bool(body, "truncate", false);
  rules.side = get_truncation_side(body);
  return rules;
}

bool is_string_list(const nlohmann::json& j) {
  return j.is_array() &&
         std::all_of(j.begin(), j.end(), [](const auto& s) { return s.is_string(); });
}

[[noreturn]] void bad_predict_input(const std::string& what) {
  throw HttpError(422, error_type::kValidation,
                  cat("inputs: ", what,
                      "; expected a string, a pair of strings [string, string] or a batch of "
                      "mixed strings and pairs [[string], [string, string], ...]"));
}

// A batch item: [text] or [text, text] (views into the parsed body, which outlives the
// tokenization).
TextOrPair batch_item(const nlohmann::json& j, size_t i) {
  using S = const std::string&;
  if (!is_string_list(j) || j.empty() || j.size() > 2)
    bad_predict_input(cat("inputs[", i, "] is not [string] or [string, string]"));
  if (j.size() == 1) return {j[0].get_ref<S>(), std::nullopt};
  return {j[0].get_ref<S>(), j[1].get_ref<S>()};
}

// TEI's PredictInput: a string or a list of one or two strings is one input (answered with a
// flat list); a list of such lists ([[text], [text, text], ...]) a batch.
std::vector<TextOrPair> predict_items(const nlohmann::json& in, bool& single) {
  using S = const std::string&;
  single = true;
  if (in.is_string()) return {{in.get_ref<S>(), std::nullopt}};
  if (!in.is_array()) bad_predict_input("not a string or a list");
  if (in.empty()) bad_predict_input("an empty list");
  if (in.front().is_string()) {
    if (!is_string_list(in) || in.size() > 2) bad_predict_input("a list of more than two strings");
    if (in.size() == 1) return {{in[0].get_ref<S>(), std::nullopt}};
    return {{in[0].get_ref<S>(), in[1].get_ref<S>()}};
  }
  single = false;
  std::vector<TextOrPair> items;
  items.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) items.push_back(batch_item(in[i], i));
  return items;
}

void append_score(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, ec == std::errc() ? end : buf);
}

void predict(const ServeContext& ctx, const Request& req, const nlohmann::json& body, Reply reply) {
  require_classifier(ctx);
  const auto it = body.find("inputs");
  if (it == body.end()) throw HttpError(422, error_type::kValidation, "missing field \"inputs\"");
  bool single = true;
  const std::vector<TextOrPair> items = predict_items(*it, single);
  const auto rules = rules_of(ctx, req, body);
  const bool raw = get_bool(body, "raw_scores", false);
  const auto t0 = Clock::now();
  auto tokenized = tokenize_texts(items, ctx.model, rules);
  Timings timings{ms_between(t0, Clock::now()), 0, 0, tokenized.tokens};

  InferPlan plan;
  plan.answer_bytes = scores_answer_cost(static_cast<int64_t>(tokenized.sequences.size()),
                                         static_cast<int64_t>(ctx.model.info().labels.size()));
  plan.cache_scope = cat("predict|raw=", raw ? 1 : 0);
  plan.outputs = ember::kSeqLogits;
  plan.extract = [raw](const JobResult& r, size_t row) {
    return scores(r.seq_logits.data() + row * r.num_labels, r.num_labels, raw);
  };
  plan.format = [single,
                 labels = ctx.model.info().labels](const std::vector<std::vector<float>>& rows) {
    Response res;
    std::string& out = res.body;
    if (!single) out += '[';
    for (size_t i = 0; i < rows.size(); ++i) {
      if (i) out += ',';
      const auto& s = rows[i];
      std::vector<size_t> order(s.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&s](size_t a, size_t b) { return s[a] > s[b]; });
      out += '[';
      for (size_t k = 0; k < order.size(); ++k) {
        if (k) out += ',';
        const auto c = order[k];
        const std::string label = c < labels.size() ? labels[c] : cat("LABEL_", c);
        out += "{\"score\":";
        append_score(out, s[c]);
        out += ",\"label\":" + nlohmann::json(label).dump() + '}';
      }
      out += ']';
    }
    if (!single) out += ']';
    return res;
  };
  infer_async(ctx, req, std::move(reply), std::move(tokenized), timings, std::move(plan));
}

void rerank(const ServeContext& ctx, const Request& req, const nlohmann::json& body, Reply reply) {
  require_classifier(ctx);
  if (ctx.model.info().labels.size() != 1)
    throw Error(ErrorKind::kUnsupported, "model is not a re-ranker model");
  const auto q = body.find("query");
  const auto t = body.find("texts");
  if (q == body.end() || !q->is_string())
    throw HttpError(422, error_type::kValidation, "\"query\" must be a string");
  if (t == body.end() || !t->is_array())
    throw HttpError(422, error_type::kValidation, "\"texts\" must be a list of strings");
  if (t->empty()) throw HttpError(400, error_type::kEmpty, "`texts` cannot be empty");
  std::vector<TextOrPair> items;
  auto texts = std::make_shared<std::vector<std::string>>();
  for (const auto& text : *t) {
    if (!text.is_string())
      throw HttpError(422, error_type::kValidation, "\"texts\" must be a list of strings");
    texts->push_back(text.get<std::string>());
  }
  // Views: the query is not copied once per text.
  for (const auto& text : *texts) items.push_back({q->get_ref<const std::string&>(), text});
  const auto rules = rules_of(ctx, req, body);
  const bool raw = get_bool(body, "raw_scores", false);
  const bool return_text = get_bool(body, "return_text", false);
  const auto t0 = Clock::now();
  auto tokenized = tokenize_texts(items, ctx.model, rules);
  Timings timings{ms_between(t0, Clock::now()), 0, 0, tokenized.tokens};

  InferPlan plan;
  // With return_text, each text is written again (escaped: up to 6 bytes per byte).
  int64_t text_bytes = 0;
  if (return_text)
    for (const auto& text : *texts) text_bytes += 6 * static_cast<int64_t>(text.size());
  plan.answer_bytes =
      scores_answer_cost(static_cast<int64_t>(tokenized.sequences.size()), 1) + text_bytes;
  plan.cache_scope = cat("rerank|raw=", raw ? 1 : 0);
  plan.outputs = ember::kSeqLogits;
  plan.extract = [raw](const JobResult& r, size_t row) {
    return scores(r.seq_logits.data() + row * r.num_labels, 1, raw);
  };
  plan.format = [return_text, texts](const std::vector<std::vector<float>>& rows) {
    std::vector<size_t> order(rows.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&rows](size_t a, size_t b) { return rows[a][0] > rows[b][0]; });
    Response res;
    std::string& out = res.body;
    out += '[';
    for (size_t k = 0; k < order.size(); ++k) {
      const auto i = order[k];
      if (k) out += ',';
      out += "{\"index\":" + std::to_string(i);
      if (return_text)
        out += ",\"text\":" + nlohmann::json((*texts)[i])
                                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += ",\"score\":";
      append_score(out, rows[i][0]);
      out += '}';
    }
    out += ']';
    return res;
  };
  infer_async(ctx, req, std::move(reply), std::move(tokenized), timings, std::move(plan));
}

}  // namespace

void classify_task(const ServeContext& ctx, const Request& req, const nlohmann::json& body,
                   Reply reply) {
  if (ctx.model.info().labels.size() == 1) return rerank(ctx, req, body, std::move(reply));
  predict(ctx, req, body, std::move(reply));
}

void add_classify_routes(Router& router, const ServedModels& models) {
  router.add("POST", "/predict", model_route(models, predict));
  router.add("POST", "/rerank", model_route(models, rerank));
}

}  // namespace ember::serve
