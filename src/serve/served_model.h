// The models one server serves, and the state each needs while loaded. A ServedModel is one
// loaded model with its own batcher (batching is per model), prompts, name and limits: the
// ServeContext its routes see. The registry (model_registry.h) makes one when it loads a model
// and destroys it, its batcher stopped, when it unloads the model. Every batcher computes
// inside the server's ComputeGate, so a flooded model cannot starve another.
//
// ServedModels resolves the model a request names (model_route, below) to a ModelHandle that
// keeps it loaded until the request's answer is sent.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/batcher.h"
#include "serve/compute_gate.h"
#include "serve/model_registry.h"
#include "serve/routes.h"

namespace ember::serve {

// What every model's context shares: the server's metrics, limits, cache, request memory.
struct ServingShared {
  Metrics* metrics = nullptr;
  ServeLimits limits;
  ResultCache* cache = nullptr;
  MemoryBudget* budget = nullptr;
  LargeRequestPool* large_requests = nullptr;
  ComputeGate* gate = nullptr;  // null: each batcher computes whenever it likes
  BatcherOptions batcher;
  // TEI's --default-prompt-name / --default-prompt: applied to the default (first) model.
  std::optional<std::string> default_prompt_name, default_prompt;
  bool label_metrics = false;  // a `model` label on every per-request metric (several models)
};

class ServedModel {
 public:
  ServedModel(const ember::Model& model, std::string name, const ServingShared& shared,
              Prompts prompts);
  ~ServedModel();
  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

  const ServeContext& context() const { return ctx_; }
  TokenBudgetBatcher& batcher() { return batcher_; }
  void stop() { batcher_.stop(); }
  void set_budget(MemoryBudget* budget) { ctx_.budget = budget; }

 private:
  TokenBudgetBatcher batcher_;
  ServeContext ctx_;
};

// A request's model: loaded, and kept loaded while the handle (or a copy) lives.
class ModelHandle {
 public:
  ModelHandle() = default;
  const ServeContext& ctx() const { return served_->context(); }
  const std::string& name() const { return lease_.name(); }

 private:
  friend class ServedModels;
  ModelHandle(ModelRegistry::Lease lease, const ServedModel* served)
      : lease_(std::move(lease)), served_(served) {}
  ModelRegistry::Lease lease_;
  const ServedModel* served_ = nullptr;
};

struct ServedModelsOptions {
  std::vector<ModelSource> sources;  // the first is the default model
  RegistryOptions registry;          // its `attach` is set by ServedModels
  // How long a request waits for its model to load before it gets 503 with Retry-After.
  std::chrono::milliseconds load_wait{2000};
  bool preload = false;  // load every model at start; otherwise only the default one
};

class ServedModels {
 public:
  // Loads the default model now (every model with preload); throws what its load throws.
  ServedModels(ServingShared shared, ServedModelsOptions options);
  ~ServedModels();

  // The model `name` names ("": the default model). With one model, `any_name` lets every
  // name reach it (OpenAI clients must send one; the one model answers whatever it is).
  // Throws HttpError: 404 (model_not_found) for a name not served, 503 with Retry-After while
  // it loads or when the models in use leave no room for it, 507 when it cannot fit in what
  // the pinned models leave of the budget; or the load's own error.
  ModelHandle acquire(std::string_view name, bool any_name = false) const;
  // Called with a parked request's model once its load has ended or its wait has passed (on
  // the registry's threads; must not block): `get` returns the handle or throws as acquire().
  using Resume = std::function<void(const std::function<ModelHandle()>& get)>;
  // acquire() without waiting on this thread: the handle when the model is loaded; while it
  // loads, nothing, and the Resume that park() makes is called later (model_registry.h).
  std::optional<ModelHandle> acquire_or_park(std::string_view name, bool any_name,
                                             const std::function<Resume()>& park) const;
  // KServe's names for a model: its name and the name's last path component.
  std::vector<std::string> kserve_aliases(const std::string& name) const;
  // The served name a KServe name (an alias) stands for; "" if none.
  std::string from_kserve(std::string_view name) const;

  const std::string& default_name() const { return names_.front(); }
  const std::vector<std::string>& names() const { return names_; }  // in the order given
  bool single() const { return names_.size() == 1; }
  const ServingShared& shared() const { return shared_; }
  // The request memory budget, once the default model's load has sized it (before serving).
  void set_budget(MemoryBudget* budget);
  ModelRegistry& registry() const { return *registry_; }
  // Sums over the loaded models' batchers (gauges).
  int64_t queue_depth() const;
  int64_t queued_inputs() const;
  int64_t pending_jobs() const;
  uint64_t dropped_disconnected() const;
  uint64_t dropped_deadline() const;
  uint64_t isolation_reruns() const;
  // Stops every loaded model's batcher: what is queued is finished (the drain's end); requests
  // parked for a load are answered 503.
  void stop();

 private:
  std::shared_ptr<void> attach(const std::string& name, const ember::Model& model);
  // The served name `requested` stands for; throws 404 for one not served.
  std::string served_name(std::string_view requested, bool any_name) const;
  // A load's error as the HttpError acquire() throws (503, 507), others as they are.
  [[noreturn]] void rethrow_load_error(const std::string& name, const Error& e) const;
  // The handle of the lease `get` returns; its errors as the HttpErrors acquire() throws.
  ModelHandle handle(const std::string& name,
                     const std::function<ModelRegistry::Lease()>& get) const;
  template <class Fn>
  uint64_t sum(Fn fn) const;

  ServingShared shared_;
  std::vector<std::string> names_;
  std::chrono::milliseconds load_wait_;
  std::unique_ptr<ModelRegistry> registry_;
};

// The model a request names: the JSON body's "model" (OpenAI's field; TEI's routes take it as
// infinity_emb does), else the X-Ember-Model header, else `?model=` in the query; "" when none.
std::string requested_model(const Request& req, const nlohmann::json* body);

// A route that runs on the model a request names: parses the body (when parse_body), resolves
// the model, and calls route with that model's context; the model stays loaded until the reply
// is sent. With one model, every name reaches it, as before there were several (OpenAI
// clients must send one). A request for a model that is loading is parked, not waited for: a
// copy of it and its parsed body are kept, and the route runs on its connection's thread
// (Request::post) once the load has ended, or it is answered 503 with Retry-After when
// --model-load-wait-ms passes first; its I/O thread serves other requests meanwhile.
using ModelRoute =
    std::function<void(const ServeContext&, const Request&, const nlohmann::json& body, Reply)>;
Handler model_route(const ServedModels& models, ModelRoute route, bool parse = true);
// The same on one model named by the route (KServe's /v2/models/{name}/...).
Handler named_model_route(const ServedModels& models, std::string name, ModelRoute route);

}  // namespace ember::serve
