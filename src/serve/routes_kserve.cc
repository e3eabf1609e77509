// KServe v2 (Triton) HTTP/REST routes: GET /v2, /v2/health/{live,ready},
// /v2/models/{m}[/versions/1] (metadata), .../ready, and POST .../infer with JSON tensors or the
// binary tensor data extension (Inference-Header-Content-Length). Inference goes through
// kserve::infer, the path /embed takes. Routes are registered for the served model's names only, so
// an unknown model or version gets the router's 404.
#include <cstring>

#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/kserve_infer.h"
#include "serve/routes.h"

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

void infer_route(const ServeContext& ctx, const Request& req, Reply reply) {
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

}  // namespace

void add_kserve_routes(Router& router, const ServeContext& ctx) {
  const ServeContext* c = &ctx;
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
  const auto metadata = json_response(metadata_json(kserve::model_metadata(ctx)));
  for (const auto& name : kserve::model_aliases(ctx)) {
    const std::string version = "/versions/" + std::string(kserve::kModelVersion);
    for (const std::string& base : {"/v2/models/" + name, "/v2/models/" + name + version}) {
      router.add("GET", base, [metadata](const Request&, Reply reply) { reply(metadata); });
      router.add("GET", base + "/ready", ok);
      router.add("POST", base + "/infer",
                 [c](const Request& req, Reply reply) { infer_route(*c, req, std::move(reply)); });
    }
  }
}

}  // namespace ember::serve
