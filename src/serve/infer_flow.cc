// The one path from tokenized inputs to a response, shared by every inference route: look
// each input up in the result cache, queue only the misses (a request of hits never enters
// the batcher), turn each computed row into that input's result, store it, and format all
// results on the request's I/O thread.
#include <algorithm>
#include <memory>

#include "core/error.h"
#include "serve/errors.h"
#include "serve/request_cost.h"
#include "serve/routes.h"

namespace ember::serve {
namespace {

const char* cache_status(size_t hits, size_t total) {
  return hits == total ? "hit" : hits == 0 ? "miss" : "partial";
}

}  // namespace

InputRules input_rules(const ServeContext& ctx, const Request& req) {
  InputRules rules;
  rules.max_inputs = ctx.limits.max_inputs_per_request;
  rules.max_text_bytes = ctx.limits.max_text_bytes;
  rules.memory = req.memory.get();
  return rules;
}

void infer_async(const ServeContext& ctx, const Request& req, Reply reply,
                 TokenizedInputs tokenized, Timings timings, InferPlan plan) {
  // From here on the request holds its sequences and, later, its results and answer: reserved
  // now, before any of it is queued (the tokenizer's working set is gone). The parsed body is
  // held until the handler returns, the rest until the answer is written.
  if (req.memory) {
    const int64_t holds = queued_cost(tokenized.tokens) + plan.answer_bytes;
    req.memory->resize(tokenized.reserved_before + holds, "the inputs and their answer");
    req.memory->hold_after_handler(holds);
  }
  const size_t total = tokenized.sequences.size();
  auto results = std::make_shared<std::vector<std::vector<float>>>(total);
  std::vector<size_t> missing;  // input index of each queued sequence
  std::vector<std::string> keys;
  Job job;
  job.outputs = plan.outputs;
  const bool caching = ctx.cache && ctx.cache->enabled();
  const std::string scope = ctx.model_id + '\n' + plan.cache_scope;
  for (size_t i = 0; i < total; ++i) {
    auto& seq = tokenized.sequences[i];
    if (caching) {
      std::string key = cache_key(scope, seq.ids, seq.type_ids);
      if (auto hit = ctx.cache->get(key)) {
        (*results)[i] = std::move(*hit);
        continue;
      }
      keys.push_back(std::move(key));
    }
    missing.push_back(i);
    job.sequences.push_back(std::move(seq));
  }
  const std::string status = cache_status(total - missing.size(), total);
  auto format = std::make_shared<InferPlan>(std::move(plan));

  if (missing.empty()) {  // every input was cached: answer now, on this thread
    Response res;
    try {
      res = format->format(*results);
    } catch (...) {
      res = error_response(std::current_exception());
    }
    res.timings = timings;
    res.cache = status;
    reply(std::move(res));
    return;
  }

  if (ctx.limits.request_timeout_ms > 0)
    job.deadline = req.received + std::chrono::milliseconds(ctx.limits.request_timeout_ms);
  job.deadline = std::min(job.deadline, req.client_deadline);
  job.client_gone = req.client_gone;
  Metrics* metrics = &ctx.metrics;
  const std::string* label = &ctx.metrics_label;  // the context outlives the job (its lease)
  ResultCache* cache = caching ? ctx.cache : nullptr;
  job.done = [post = req.post, gone = req.client_gone, reply, format, results,
              missing = std::move(missing), keys = std::move(keys), timings, status, metrics, label,
              cache](JobResult result) mutable {
    // Scheduler thread: hand off at once; the rest runs on the request's I/O thread.
    post([gone, reply = std::move(reply), format, results, missing = std::move(missing),
          keys = std::move(keys), timings, status, metrics, label, cache,
          result = std::move(result)]() mutable {
      Timings t = timings;
      t.queue_ms = result.queue_ms;
      t.inference_ms = result.inference_ms;
      Response res;
      try {
        if (result.error) throw *result.error;
        for (size_t row = 0; row < missing.size(); ++row) {
          auto& out = (*results)[missing[row]];
          out = format->extract(result, row);
          if (cache) cache->put(keys[row], out);
        }
        res = format->format(*results);
        metrics->observe_stages(t.tokenization_ms / 1e3, t.queue_ms / 1e3, t.inference_ms / 1e3,
                                *label);
      } catch (...) {
        res = gone && *gone ? error_response(kClientClosedRequest, error_type::kValidation,
                                             "the client closed the connection")
                            : error_response(std::current_exception());
      }
      res.timings = t;
      res.cache = status;
      reply(std::move(res));
    });
  };
  ctx.batcher.submit(std::move(job));  // kOverloaded / kUnavailable -> 429 / 503 via router
}

}  // namespace ember::serve
