// OpenAI-compatible routes: POST /v1/embeddings (and /embeddings, as TEI), GET /v1/models.
// Embeddings are always L2-normalized (as OpenAI's are, and as TEI's OpenAI route does);
// `dimensions` cuts first.
#include <ctime>

#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/routes.h"
#include "serve/served_model.h"

namespace ember::serve {
namespace {

void embeddings(const ServeContext& ctx, const Request& req, const nlohmann::json& body,
                Reply reply) {
  if (ctx.model.info().kind == ember::ModelKind::kSequenceClassification)
    throw HttpError(424, error_type::kBackend, "Model is not an embedding model");
  // OpenAI's embeddings are normalized; TEI refuses that for SPLADE.
  if (ctx.model.info().kind == ember::ModelKind::kSparse)
    throw HttpError(424, error_type::kBackend, "`normalize` is not available for SPLADE models");
  if (!body.contains("input"))
    throw HttpError(422, error_type::kValidation, "missing field \"input\"");
  bool base64 = false;
  if (const auto f = body.find("encoding_format"); f != body.end() && !f->is_null()) {
    if (!f->is_string() || (*f != "float" && *f != "base64"))
      throw HttpError(422, error_type::kValidation,
                      "\"encoding_format\" must be \"float\" or \"base64\"");
    base64 = *f == "base64";
  }
  InputRules rules = input_rules(ctx, req);
  rules.truncate = get_bool(body, "truncate", false);  // an extension, as in TEI
  set_prompt(rules, body, ctx.prompts);                // an extension: "prompt_name"
  const auto dims = get_dimensions(body, ctx.model.info().hidden_size);
  embed_async(ctx, req, std::move(reply), body["input"], rules, /*normalize=*/true, dims,
              [base64, model = ctx.model_id](const Embeddings& e) {
                Response r;
                std::string& out = r.body;
                out.reserve(static_cast<size_t>(e.count * e.dims * 12 + 256));
                out += "{\"object\":\"list\",\"data\":[";
                for (int64_t i = 0; i < e.count; ++i) {
                  if (i) out += ',';
                  out += "{\"object\":\"embedding\",\"index\":" + std::to_string(i) +
                         ",\"embedding\":";
                  const float* v = e.values.data() + i * e.dims;
                  if (base64) {
                    out += '"' + base64_floats(v, e.dims) + '"';
                  } else {
                    append_floats(out, v, e.dims);
                  }
                  out += '}';
                }
                out += "],\"model\":" + nlohmann::json(model).dump() +
                       ",\"usage\":{\"prompt_tokens\":" + std::to_string(e.tokens) +
                       ",\"total_tokens\":" + std::to_string(e.tokens) + "}}";
                return r;
              });
}

}  // namespace

void add_openai_routes(Router& router, const ServedModels& models) {
  const auto handler = model_route(models, embeddings);
  router.add("POST", "/v1/embeddings", handler);
  router.add("POST", "/embeddings", handler);  // as TEI: for base URLs without /v1
  const auto created = static_cast<int64_t>(std::time(nullptr));
  // Every model the server knows, loaded or not: "state" (loaded, loading, unloaded, failed),
  // "pinned" and "compute_threads" (its compute pool; 0: all cores) are Ember's extensions.
  const ServedModels* m = &models;
  router.add("GET", "/v1/models", [m, created](const Request&, Reply reply) {
    const auto statuses = m->registry().list();
    nlohmann::json data = nlohmann::json::array();
    for (const auto& name : m->names()) {
      nlohmann::json entry = {
          {"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "ember"}};
      for (const auto& s : statuses)
        if (s.name == name) {
          entry["state"] = model_state_name(s.state);
          entry["pinned"] = s.pinned;
          entry["compute_threads"] = s.threads;
        }
      data.push_back(std::move(entry));
    }
    Response r;
    r.body = nlohmann::json({{"object", "list"}, {"data", std::move(data)}}).dump();
    reply(std::move(r));
  });
}

}  // namespace ember::serve
