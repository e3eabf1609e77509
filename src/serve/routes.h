// What a route sees of one served model: the model, its batcher, the metrics and the server's
// limits (served_model.h makes one per loaded model).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ember/ember.h"
#include "serve/batcher.h"
#include "serve/inputs.h"
#include "serve/large_request_pool.h"
#include "serve/memory_budget.h"
#include "serve/metrics.h"
#include "serve/result_cache.h"
#include "serve/router.h"

namespace ember::serve {

struct ServeLimits {
  size_t max_inputs_per_request = 512;
  int64_t request_timeout_ms = 0;  // 0: no deadline
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_requests = 64;
  size_t max_queue = 256;
  int http_threads = 2;
  int64_t max_tokenize_bytes = 256 << 10;  // text per /tokenize request (413 above)
  int64_t max_response_bytes = 64 << 20;   // /embed_all's JSON answer (413 above)
  int64_t large_request_bytes = 16 << 10;  // gRPC messages this large run on the pool
  int64_t max_text_bytes = 8 << 20;        // text tokenized per request (4 x the payload limit)
};

struct ServeContext {
  const ember::Model& model;
  TokenBudgetBatcher& batcher;
  Metrics& metrics;
  ServeLimits limits;
  std::string model_id;
  ResultCache* cache = nullptr;                // null or disabled: every input is computed
  MemoryBudget* budget = nullptr;              // null: requests are not accounted
  LargeRequestPool* large_requests = nullptr;  // null: everything runs where it arrives
  Prompts prompts;  // the model's sentence-transformers prompts, with the server's default
  std::string metrics_label;  // the model's `model` label in metrics; "" with one model
};

// What an inference route asks of infer_async.
struct InferPlan {
  // Every request parameter that changes a per-input result ("embed|n=1|d=64"); the model
  // and the token ids are added to the cache key by infer_async.
  std::string cache_scope;
  unsigned outputs = ember::kPooled;  // ember::Output bits the batcher must compute
  // Row `row` of the job's outputs -> that input's result (what the cache stores).
  std::function<std::vector<float>(const JobResult&, size_t row)> extract;
  // Every input's result, in request order -> the response body.
  std::function<Response(const std::vector<std::vector<float>>&)> format;
  // Upper bound of the memory of the results and the answer (request_cost.h), reserved
  // before the inputs are queued.
  int64_t answer_bytes = 0;
};

// The rules every inference route starts from: the input count and text limits, and the
// request's memory reservation.
InputRules input_rules(const ServeContext& ctx, const Request& req);

// Looks each input up in the cache, queues the misses, replies from the request's I/O thread
// with the x-cache header set ("hit", "miss", "partial"). Never blocks.
void infer_async(const ServeContext& ctx, const Request& req, Reply reply,
                 TokenizedInputs tokenized, Timings timings, InferPlan plan);

// Embeddings after the batcher: [inputs][dims], Matryoshka-cut to `dimensions` first, then
// L2-normalized if asked.
struct Embeddings {
  int64_t count = 0, dims = 0;
  std::vector<float> values;
  int64_t tokens = 0;
};
using FormatEmbeddings = std::function<Response(const Embeddings&)>;

// Tokenizes on this (I/O) thread, queues the job, and replies from the request's I/O thread
// once the batcher is done; never blocks. `dimensions` is validated against the model.
void embed_async(const ServeContext& ctx, const Request& req, Reply reply,
                 const nlohmann::json& inputs, const InputRules& rules, bool normalize,
                 std::optional<int64_t> dimensions, FormatEmbeddings format);

std::optional<int64_t> get_dimensions(const nlohmann::json& body, int64_t hidden_size);

// JSON numbers for floats (shortest round trip; null for non-finite) and base64 of
// little-endian float32.
void append_float(std::string& out, float v);
void append_floats(std::string& out, const float* v, int64_t n);
std::string base64_floats(const float* v, int64_t n);

// A classifier's own task (POST /, /invocations): /rerank with one label, /predict otherwise.
void classify_task(const ServeContext& ctx, const Request& req, const nlohmann::json& body,
                   Reply reply);

// The routes, each on the model its request names (served_model.h).
class ServedModels;
void add_tei_routes(Router& router, const ServedModels& models);
void add_openai_routes(Router& router, const ServedModels& models);
void add_classify_routes(Router& router, const ServedModels& models);  // /predict, /rerank
// /v2 (KServe, Triton); model control (load, unload) only with allow_control.
void add_kserve_routes(Router& router, ServedModels& models, bool allow_control);
// POST /vertex (Vertex AI's {"instances": [...]}): each instance through `router`.
void add_vertex_route(Router& router, const ServedModels& models);

}  // namespace ember::serve
