#include "serve/served_model.h"

#include <algorithm>
#include <exception>
#include <filesystem>

#include "core/error.h"
#include "serve/errors.h"

namespace ember::serve {
namespace {

// Seconds a client is told to wait for a model that is loading, or for room for it.
constexpr int kRetryAfterSeconds = 1;

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

std::string last_component(const std::string& name) {
  auto p = std::filesystem::path(name);
  if (!p.has_filename()) p = p.parent_path();  // "dir/model/"
  const auto last = p.filename().string();
  return last.empty() ? name : last;
}

// `?model=NAME` of a query string (no percent-decoding beyond '+': model names are plain).
std::string query_model(const std::string& query) {
  size_t at = 0;
  while (at <= query.size()) {
    const size_t end = std::min(query.find('&', at), query.size());
    const std::string_view part(query.data() + at, end - at);
    if (part.rfind("model=", 0) == 0) return std::string(part.substr(6));
    at = end + 1;
  }
  return {};
}

BatcherOptions with_label(BatcherOptions o, std::string label) {
  o.metrics_label = std::move(label);
  return o;
}

}  // namespace

ServedModel::ServedModel(const ember::Model& model, std::string name, const ServingShared& shared,
                         Prompts prompts)
    : batcher_(
          with_label(shared.batcher, shared.label_metrics ? name : std::string()),
          [&model, gate = shared.gate](const ember::Batch& b, unsigned outputs) {
            if (!gate) return model.run(b, outputs);
            const auto turn = gate->enter();
            return model.run(b, outputs);
          },
          shared.metrics),
      ctx_{model,        batcher_,      *shared.metrics,       shared.limits,      std::move(name),
           shared.cache, shared.budget, shared.large_requests, std::move(prompts), {}} {
  if (shared.label_metrics) ctx_.metrics_label = ctx_.model_id;
}

ServedModel::~ServedModel() {
  batcher_.stop();
}

ServedModels::ServedModels(ServingShared shared, ServedModelsOptions options)
    : shared_(std::move(shared)), load_wait_(options.load_wait) {
  for (const auto& s : options.sources) names_.push_back(s.name);
  shared_.label_metrics = names_.size() > 1;
  EMBER_CHECK(!names_.empty(), ErrorKind::kInvalidInput, "no model to serve (--model)");
  options.registry.attach = [this](const std::string& name, const ember::Model& model) {
    return attach(name, model);
  };
  registry_ = std::make_unique<ModelRegistry>(std::move(options.registry), options.sources);
  if (options.preload) {
    registry_->preload();
  } else {
    registry_->acquire(names_.front(), std::chrono::hours(24 * 365));
  }
}

ServedModels::~ServedModels() {
  stop();
  registry_.reset();  // the models and their batchers, before shared_ they point into
}

std::shared_ptr<void> ServedModels::attach(const std::string& name, const ember::Model& model) {
  EMBER_CHECK(model.info().has_tokenizer, ErrorKind::kUnsupported, "model '", name,
              "' has no tokenizer.json; ember serve needs one");
  const bool is_default = name == names_.front();
  Prompts prompts = is_default
                        ? Prompts::of(model, shared_.default_prompt_name, shared_.default_prompt)
                        : Prompts::of(model, std::nullopt, std::nullopt);
  return std::make_shared<ServedModel>(model, name, shared_, std::move(prompts));
}

std::string ServedModels::served_name(std::string_view requested, bool any_name) const {
  std::string name(requested);
  if (name.empty() || (any_name && single())) name = names_.front();
  if (std::find(names_.begin(), names_.end(), name) == names_.end()) {
    const std::string by_alias = from_kserve(name);
    if (by_alias.empty())
      throw HttpError(404, error_type::kModelNotFound,
                      cat("model '", name, "' is not served; the models are ", list_names(names_)));
    name = by_alias;
  }
  return name;
}

void ServedModels::rethrow_load_error(const std::string& name, const Error& e) const {
  if (e.kind() == ErrorKind::kUnavailable)
    throw HttpError(503, error_type::kUnhealthy, e.what(), kRetryAfterSeconds);
  if (e.kind() != ErrorKind::kOverloaded) throw e;
  // Too large for what the pinned models leave of the budget: retrying cannot help (507).
  // Otherwise the models in use hold the room it needs, for now (503, Retry-After).
  int64_t needed = 0, pinned = 0;
  for (const auto& s : registry_->list()) {
    if (s.name == name) needed = s.needed_bytes;
    if (s.name != name && s.pinned && s.state == ModelState::kLoaded) pinned += s.bytes;
  }
  if (registry_->budget_bytes() > 0 && needed > registry_->budget_bytes() - pinned)
    throw HttpError(507, error_type::kOverloaded, e.what());
  throw HttpError(503, error_type::kOverloaded, e.what(), kRetryAfterSeconds);
}

ModelHandle ServedModels::handle(const std::string& name,
                                 const std::function<ModelRegistry::Lease()>& get) const {
  try {
    auto lease = get();
    const auto* served = static_cast<const ServedModel*>(lease.attached());
    return ModelHandle(std::move(lease), served);
  } catch (const Error& e) {
    rethrow_load_error(name, e);
  }
}

ModelHandle ServedModels::acquire(std::string_view requested, bool any_name) const {
  const std::string name = served_name(requested, any_name);
  return handle(name, [&] { return registry_->acquire(name, load_wait_); });
}

std::optional<ModelHandle> ServedModels::acquire_or_park(
    std::string_view requested, bool any_name, const std::function<Resume()>& park) const {
  const std::string name = served_name(requested, any_name);
  std::optional<ModelRegistry::Lease> lease;
  try {
    lease = registry_->acquire_or_park(name, load_wait_, [&]() -> ModelRegistry::Resume {
      return [this, name, resume = park()](const std::function<ModelRegistry::Lease()>& get) {
        resume([&] { return handle(name, get); });
      };
    });
  } catch (const Error& e) {
    rethrow_load_error(name, e);
  }
  if (!lease) return std::nullopt;
  return handle(name, [&] { return *std::move(lease); });
}

std::vector<std::string> ServedModels::kserve_aliases(const std::string& name) const {
  std::vector<std::string> out = {last_component(name)};
  if (out.front() != name) out.push_back(name);
  return out;
}

std::string ServedModels::from_kserve(std::string_view alias) const {
  for (const auto& n : names_)
    if (last_component(n) == alias) return n;
  return {};
}

template <class Fn>
uint64_t ServedModels::sum(Fn fn) const {
  uint64_t total = 0;
  registry_->for_each_attached([&](void* p) { total += fn(*static_cast<ServedModel*>(p)); });
  return total;
}

int64_t ServedModels::queue_depth() const {
  return static_cast<int64_t>(sum([](ServedModel& m) { return m.batcher().queue_depth(); }));
}
int64_t ServedModels::queued_inputs() const {
  return static_cast<int64_t>(sum([](ServedModel& m) { return m.batcher().queued_inputs(); }));
}
int64_t ServedModels::pending_jobs() const {
  return static_cast<int64_t>(sum([](ServedModel& m) { return m.batcher().pending_jobs(); }));
}
uint64_t ServedModels::dropped_disconnected() const {
  return sum([](ServedModel& m) { return m.batcher().dropped_disconnected(); });
}
uint64_t ServedModels::dropped_deadline() const {
  return sum([](ServedModel& m) { return m.batcher().dropped_deadline(); });
}
uint64_t ServedModels::isolation_reruns() const {
  return sum([](ServedModel& m) { return m.batcher().isolation_reruns(); });
}

void ServedModels::set_budget(MemoryBudget* budget) {
  shared_.budget = budget;
  registry_->for_each_attached(
      [budget](void* p) { static_cast<ServedModel*>(p)->set_budget(budget); });
}

void ServedModels::stop() {
  if (!registry_) return;
  registry_->stop_parking();  // requests waiting for a load: 503 now
  registry_->for_each_attached([](void* p) { static_cast<ServedModel*>(p)->stop(); });
}

std::string requested_model(const Request& req, const nlohmann::json* body) {
  if (body && body->is_object()) {
    const auto it = body->find("model");
    if (it != body->end() && !it->is_null()) {
      if (!it->is_string())
        throw HttpError(422, error_type::kValidation, "\"model\" must be a string");
      return it->get<std::string>();
    }
  }
  if (!req.model_header.empty()) return req.model_header;
  return query_model(req.query);
}

namespace {

// The reply that keeps the model loaded until it is sent, and names it in the metrics (with
// several models: one model's series stay as they were before there could be several).
Reply holding(const ServedModels& models, const Request& req, const ModelHandle& model,
              Reply reply) {
  if (req.model_label && !models.single()) *req.model_label = model.name();
  return [model, reply = std::move(reply)](Response r) { reply(std::move(r)); };
}

// Runs `route` on the model `name` names: now when it is loaded, or, while it loads, on the
// request's own thread once the load has ended (or its wait has passed: 503). The parked copy
// of the request keeps its memory reservation, which covers its body and the parsed body (a
// route that parsed the body parks without the raw one); it settles once the resumed route
// returns, as after any handler (Router::run).
void on_model(const ServedModels& m, const Request& req, std::string_view name, bool any_name,
              const std::shared_ptr<const nlohmann::json>& body, bool parsed,
              const ModelRoute& route, Reply reply) {
  const auto park = [&]() -> ServedModels::Resume {
    auto copy = std::make_shared<Request>(req);
    if (parsed) std::string().swap(copy->body);
    std::shared_ptr<const Request> parked = std::move(copy);
    return [m = &m, parked, body, route, reply](const std::function<ModelHandle()>& get) {
      std::optional<ModelHandle> model;
      std::exception_ptr error;
      try {
        model = get();
      } catch (...) {
        error = std::current_exception();
      }
      auto resumed = [m, parked, body, route, reply, model = std::move(model), error] {
        const Request& r = *parked;
        try {
          if (error) std::rethrow_exception(error);
          route(model->ctx(), r, *body, holding(*m, r, *model, reply));
        } catch (...) {
          reply(error_response(std::current_exception()));
        }
        if (r.memory) {
          try {
            r.memory->settle();
          } catch (...) {  // shrinking never throws
          }
        }
      };
      if (parked->post)
        parked->post(std::move(resumed));
      else
        resumed();
    };
  };
  const std::optional<ModelHandle> model = m.acquire_or_park(name, any_name, park);
  if (model) route(model->ctx(), req, *body, holding(m, req, *model, std::move(reply)));
}

}  // namespace

Handler model_route(const ServedModels& models, ModelRoute route, bool parse) {
  const ServedModels* m = &models;
  return [m, route = std::move(route), parse](const Request& req, Reply reply) {
    auto body = std::make_shared<nlohmann::json>();
    if (parse) *body = parse_body(req.body);
    const std::string name = requested_model(req, parse ? body.get() : nullptr);
    on_model(*m, req, name, /*any_name=*/true, body, parse, route, std::move(reply));
  };
}

Handler named_model_route(const ServedModels& models, std::string name, ModelRoute route) {
  const ServedModels* m = &models;
  return [m, name = std::move(name), route = std::move(route)](const Request& req, Reply reply) {
    on_model(*m, req, name, /*any_name=*/false, std::make_shared<const nlohmann::json>(),
             /*parsed=*/false, route, std::move(reply));
  };
}

}  // namespace ember::serve
