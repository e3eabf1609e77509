// KServe v2 (Triton) HTTP/REST routes: GET /v2, /v2/health/{live,ready},
// /v2/models/{m}[/versions/1] (metadata), .../ready, and POST .../infer with JSON tensors or the
// binary tensor data extension (Inference-Header-Content-Length). Inference goes through
// kserve::infer, the path /embed takes. Routes are registered for the served models' names
// only, so an unknown model or version gets the router's 404. The repository extension: POST
// /v2/repository/index, and /v2/repository/models/{m}/load, /unload (--allow-model-control).
#include <cstring>

#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/kserve_infer.h"
#include "serve/model_control.h"
#include "serve/routes.h"
#include "serve/served_model.h"

namespace ember::serve {
namespace {

Response json_response(const nlohmann::json& j) {
  Response r;
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

nlohmann::json tensor_json(const kserve::TensorMeta& t) {
  return {{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}};
}

nlohmann::json metadata_json(const kserve::ModelMeta& m) {
  nlohmann::json j = {{"name", m.name},
                      {"versions", {std::string(kserve::kModelVersion)}},
                      {"platform", kserve::kPlatform},
                      {"inputs", nlohmann::json::array()},
                      {"outputs", nlohmann::json::array()}};
  for (const auto& t : m.inputs) j["inputs"].push_back(tensor_json(t));
  for (const auto& t : m.outputs) j["outputs"].push_back(tensor_json(t));
  return j;
}

// The infer response: a JSON document, followed by the raw little-endian bytes of the outputs
// asked for in binary (each announced by "binary_data_size"); Inference-Header-Content-Length
// then gives the JSON part's length.
Response format_infer(const std::string& model, const std::string& id,
                      const std::vector<kserve::OutputTensor>& outputs) {
  std::string head = "{\"model_name\":" + nlohmann::json(model).dump() + ",\"model_version\":\"" +
                     std::string(kserve::kModelVersion) + '"';
  if (!id.empty())
    head += ",\"id\":" +
            nlohmann::json(id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  head += ",\"outputs\":[";
  std::string binary;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& o = outputs[i];
    const auto count = kserve::element_count(o.shape, o.name);
    if (i) head += ',';
    head += "{\"name\":\"" + o.name +
            "\",\"datatype\":\"FP32\",\"shape\":" + nlohmann::json(o.shape).dump();
    if (o.binary) {
      const size_t bytes = static_cast<size_t>(count) * sizeof(float);
      head += ",\"parameters\":{\"binary_data_size\":" + std::to_string(bytes) + "}}";
      const size_t at = binary.size();
      binary.resize(at + bytes);
      std::memcpy(binary.data() + at, o.data, bytes);  // the host is little-endian
    } else {
      head += ",\"data\":";
      append_floats(head, o.data, count);
      head += '}';
    }
  }
  head += "]}";
  Response r;
  if (!binary.empty()) {
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(head.size()));
    head += binary;
  }
  r.body = std::move(head);
  return r;
}

void infer_route(const ServeContext& ctx, const Request& req, const nlohmann::json&, Reply reply) {
  std::optional<size_t> header_length;
  if (!req.inference_header_content_length.empty())
    header_length =
        kserve::parse_header_length(req.inference_header_content_length, req.body.size());
  const auto request = kserve::parse_http_infer(req.body, header_length);
  kserve::infer(ctx, req, std::move(reply), request,
                [model = kserve::model_name(ctx),
                 id = request.id](const std::vector<kserve::OutputTensor>& outputs) {
                  return format_infer(model, id, outputs);
                });
}

// Triton's repository index (model_control.h); {"ready": true} lists the READY ones.
Response index_response(const ServedModels& models, const Request& req) {
  bool ready_only = false;
  if (!req.body.empty()) ready_only = get_bool(parse_body(req.body), "ready", false);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : repository_index(models, ready_only))
    out.push_back(
        {{"name", m.name}, {"version", m.version}, {"state", m.state}, {"reason", m.reason}});
  return json_response(out);
}

}  // namespace

void add_kserve_routes(Router& router, ServedModels& models, bool allow_control) {
  ServedModels* all = &models;
  router.add("GET", "/v2", [](const Request&, Reply reply) {
    reply(json_response({{"name", kserve::kServerName},
                         {"version", kserve::kServerVersion},
                         {"extensions", kserve::server_extensions()}}));
  });
  // Health needs no API key (as /health); the router answers 503 while draining.
  const auto ok = [](const Request&, Reply reply) {
    Response r;
    r.content_type = "text/plain";
    reply(std::move(r));
  };
  router.add("GET", "/v2/health/live", ok, /*needs_auth=*/false);
  router.add("GET", "/v2/health/ready", ok, /*needs_auth=*/false);
  router.add("POST", "/v2/repository/index",
             [all](const Request& req, Reply reply) { reply(index_response(*all, req)); });
  for (const auto& served : models.names()) {
    // A model is ready unless its load failed: one not loaded yet loads on its first request.
    const auto ready = [all, served](const Request&, Reply reply) {
      for (const auto& s : all->registry().list())
        if (s.name == served && s.state == ModelState::kFailed)
          throw HttpError(400, error_type::kValidation,
                          cat("model '", served, "' is not ready: ", s.error));
      Response r;
      r.content_type = "text/plain";
      reply(std::move(r));
    };
    const auto metadata = named_model_route(
        models, served,
        [](const ServeContext& ctx, const Request&, const nlohmann::json&, Reply reply) {
          reply(json_response(metadata_json(kserve::model_metadata(ctx))));
        });
    for (const auto& name : models.kserve_aliases(served)) {
      const std::string version = "/versions/" + std::string(kserve::kModelVersion);
      for (const std::string& base : {"/v2/models/" + name, "/v2/models/" + name + version}) {
        router.add("GET", base, metadata);
        router.add("GET", base + "/ready", ready);
        router.add("POST", base + "/infer", named_model_route(models, served, infer_route));
      }
      for (const bool load : {true, false})
        router.add(
            "POST", "/v2/repository/models/" + name + (load ? "/load" : "/unload"),
            [all, served, load, allow_control](const Request& req, Reply reply) {
              std::vector<std::string> parameters;
              if (allow_control && !req.body.empty()) {  // 403 first when off
                const auto body = parse_body(req.body);
                const auto it = body.find("parameters");
                if (it != body.end() && it->is_object())
                  for (const auto& item : it->items()) parameters.push_back(item.key());
              }
              control_model(*all, served, load, allow_control, parameters);
              reply(json_response(nlohmann::json::object()));
            },
            /*needs_auth=*/true, /*heavy=*/true);
    }
  }
}

}  // namespace ember::serve
