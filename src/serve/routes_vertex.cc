// POST /vertex: Vertex AI's prediction format, as TEI serves it. {"instances": [request, ...]}
// -> {"predictions": [answer, ...]}: an instance with "query" and "texts" is a /rerank
// request; any other is the model's own task (/predict on a classifier, /embed_sparse on a
// SPLADE model, /embed otherwise). Each instance goes through the router as its own request
// (auth, metrics, memory, batching), concurrently; the first failed instance, in order, is
// the answer (as TEI's).
#include <algorithm>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/routes.h"
#include "serve/served_model.h"

namespace ember::serve {
namespace {

bool is_rerank_instance(const nlohmann::json& j) {
  if (!j.is_object()) return false;
  const auto q = j.find("query");
  const auto t = j.find("texts");
  return q != j.end() && q->is_string() && t != j.end() && t->is_array() &&
         std::all_of(t->begin(), t->end(), [](const auto& s) { return s.is_string(); });
}

std::string task_path(const ServeContext& ctx) {
  if (ctx.model.info().kind == ember::ModelKind::kSequenceClassification) return "/predict";
  return ctx.model.info().kind == ember::ModelKind::kSparse ? "/embed_sparse" : "/embed";
}

// The instances' answers, gathered from whichever threads they come on.
struct Gather {
  std::mutex mu;
  std::vector<Response> answers;
  size_t left = 0;
  Reply reply;
};

void finish(Gather& g) {
  for (auto& a : g.answers)
    if (a.status >= 400) return g.reply(std::move(a));
  Response r;
  r.body = "{\"predictions\":[";
  for (size_t i = 0; i < g.answers.size(); ++i) {
    if (i) r.body += ',';
    r.body += g.answers[i].body;
  }
  r.body += "]}";
  g.reply(std::move(r));
}

void vertex(const ServeContext& ctx, const Router& router, const Request& req,
            const nlohmann::json& body, Reply reply) {
  const auto it = body.find("instances");
  if (it == body.end() || !it->is_array())
    throw HttpError(422, error_type::kValidation, "\"instances\" must be a list of requests");
  if (it->empty()) throw HttpError(400, error_type::kEmpty, "`instances` cannot be empty");
  if (it->size() > ctx.limits.max_inputs_per_request)
    throw HttpError(413, error_type::kValidation,
                    cat("batch size ", it->size(), " > maximum allowed batch size ",
                        ctx.limits.max_inputs_per_request));
  const std::string task = task_path(ctx);
  std::vector<Request> subs;
  subs.reserve(it->size());
  for (const auto& instance : *it) {
    Request sub;
    sub.method = "POST";
    sub.path = is_rerank_instance(instance) ? "/rerank" : task;
    sub.body = instance.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    sub.authorization = req.authorization;
    sub.model_header = ctx.model_id;  // every instance on the model this request names
    sub.received = req.received;
    sub.client_gone = req.client_gone;
    sub.client_deadline = req.client_deadline;
    sub.post = req.post;
    if (ctx.budget)  // its own share of the budget: 429 / 413 here when it does not fit
      sub.memory = ctx.budget->reserve(static_cast<int64_t>(sub.body.size()), "a /vertex instance");
    subs.push_back(std::move(sub));
  }
  auto g = std::make_shared<Gather>();
  g->answers.resize(subs.size());
  g->left = subs.size();
  g->reply = std::move(reply);
  for (size_t i = 0; i < subs.size(); ++i) {
    router.dispatch(std::move(subs[i]), [g, i](Response r) {
      bool last = false;
      {
        std::lock_guard<std::mutex> lock(g->mu);
        g->answers[i] = std::move(r);
        last = --g->left == 0;
      }
      if (last) finish(*g);
    });
  }
}

}  // namespace

void add_vertex_route(Router& router, const ServedModels& models) {
  const Router* r = &router;
  router.add("POST", "/vertex",
             model_route(models, [r](const ServeContext& ctx, const Request& req,
                                     const nlohmann::json& body, Reply reply) {
               vertex(ctx, *r, req, body, std::move(reply));
             }));
}

}  // namespace ember::serve
