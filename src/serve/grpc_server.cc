#include "serve/grpc_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "core/error.h"
#include "grpc_service.grpc.pb.h"
#include "serve/errors.h"
#include "serve/kserve_infer.h"
#include "serve/model_control.h"
#include "serve/request_cost.h"

namespace ember::serve {
namespace {

using ParameterMap = google::protobuf::Map<std::string, inference::InferParameter>;

[[noreturn]] void bad(const std::string& message) {
  throw HttpError(400, error_type::kValidation, message);
}

// The request's InferParameter map as the JSON object HTTP requests carry as "parameters",
// so that both transports read "normalize", "truncate", ... the same way.
nlohmann::json parameters_json(const ParameterMap& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, p] : params) {
    switch (p.parameter_choice_case()) {
      case inference::InferParameter::kBoolParam:
        j[key] = p.bool_param();
        break;
      case inference::InferParameter::kInt64Param:
        j[key] = p.int64_param();
        break;
      case inference::InferParameter::kStringParam:
        j[key] = p.string_param();
        break;
      case inference::InferParameter::kDoubleParam:
        j[key] = p.double_param();
        break;
      case inference::InferParameter::kUint64Param:
        j[key] = p.uint64_param();
        break;
      case inference::InferParameter::PARAMETER_CHOICE_NOT_SET:
        break;
    }
  }
  return j;
}

// ModelInferRequest -> the transport-independent request. BYTES elements come either in
// raw_input_contents (one entry per input, 4-byte little-endian length + bytes per element,
// as Triton's clients send them) or in contents.bytes_contents.
kserve::InferRequest to_request(const inference::ModelInferRequest& p) {
  kserve::InferRequest r;
  r.id = p.id();
  r.parameters = parameters_json(p.parameters());
  if (p.inputs_size() == 0) bad("\"inputs\" must be a non-empty list of tensors");
  const bool raw = p.raw_input_contents_size() > 0;
  if (raw && p.raw_input_contents_size() != p.inputs_size())
    bad(cat(p.raw_input_contents_size(), " raw_input_contents for ", p.inputs_size(),
            " inputs; expected one per input"));
  for (int i = 0; i < p.inputs_size(); ++i) {
    const auto& t = p.inputs(i);
    const std::string where = cat("inputs[", i, "]");
    kserve::InputTensor in;
    in.name = t.name();
    in.datatype = t.datatype();
    in.shape.assign(t.shape().begin(), t.shape().end());
    const int64_t count = kserve::element_count(in.shape, where);
    if (in.datatype == "BYTES") {
      if (raw) {
        if (t.contents().bytes_contents_size() > 0)
          bad(cat(where, ": both contents and raw_input_contents"));
        in.texts = kserve::decode_bytes_elements(p.raw_input_contents(i), where);
      } else {
        in.texts.assign(t.contents().bytes_contents().begin(), t.contents().bytes_contents().end());
      }
      if (static_cast<int64_t>(in.texts.size()) != count)
        bad(cat(where, ": ", in.texts.size(), " elements do not match shape (", count,
                " elements)"));
    }
    r.inputs.push_back(std::move(in));
  }
  for (const auto& o : p.outputs()) r.outputs.push_back({o.name(), false});
  return r;
}

grpc::Status status_of(const Response& r) {
  std::string message = r.body;
  try {
    const auto j = nlohmann::json::parse(r.body);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) message = j["error"];
  } catch (...) {  // not JSON: the body itself is the message
  }
  return {static_cast<grpc::StatusCode>(grpc_code_for_http_status(r.status)), message};
}

// Holds a ModelInfer handler's thread until the batcher's completion arrives, and runs the
// completion's formatting on it (the role an HTTP connection's I/O thread plays for HTTP).
// While it waits it watches the call: once the client cancelled or its deadline passed, the
// request is marked gone, and the batcher drops it before its next batch.
class Waiter {
 public:
  void post(std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }
  void reply(Response r) {
    {
      std::lock_guard lock(mutex_);
      result_ = std::move(r);
    }
    cv_.notify_one();
  }
  Response wait(grpc::ServerContext& call, std::atomic<bool>& gone) {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, std::chrono::milliseconds(20),
                     [this] { return !tasks_.empty() || result_; });
        if (result_) return std::move(*result_);
        if (!tasks_.empty()) {
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
      }
      if (task) task();
      if (!gone && (call.IsCancelled() || std::chrono::system_clock::now() > call.deadline()))
        gone = true;
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::optional<Response> result_;
};

// The call's deadline on the steady clock (max: none).
Clock::time_point steady_deadline(const grpc::ServerContext& c) {
  const auto d = c.deadline();
  if (d == std::chrono::system_clock::time_point::max()) return Clock::time_point::max();
  const auto left = d - std::chrono::system_clock::now();
  if (left > std::chrono::hours(24 * 365)) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(left);
}

class Service final : public inference::GRPCInferenceService::Service {
 public:
  Service(const ServedModels& models, const Router& router, std::string api_key, bool allow_control)
      : models_(models),
        shared_(models.shared()),
        router_(router),
        api_key_(std::move(api_key)),
        allow_control_(allow_control) {}

  grpc::Status ServerLive(grpc::ServerContext* c, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* res) override {
    return call("ServerLive", c, kHealth, [&] { res->set_live(true); });
  }

  grpc::Status ServerReady(grpc::ServerContext* c, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* res) override {
    return call("ServerReady", c, kHealth, [&] { res->set_ready(!router_.draining()); });
  }

  grpc::Status ModelReady(grpc::ServerContext* c, const inference::ModelReadyRequest* req,
                          inference::ModelReadyResponse* res) override {
    return call("ModelReady", c, kGuarded, [&] {
      // As HTTP's: ready unless unknown (404 reads "not ready" to a client) or its load failed.
      const std::string name = served_name(req->name(), req->version());
      bool ready = !name.empty();
      for (const auto& s : models_.registry().list())
        if (s.name == name && s.state == ModelState::kFailed) ready = false;
      res->set_ready(ready);
    });
  }

  grpc::Status ServerMetadata(grpc::ServerContext* c, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* res) override {
    return call("ServerMetadata", c, kGuarded, [&] {
      res->set_name(std::string(kserve::kServerName));
      res->set_version(std::string(kserve::kServerVersion));
      for (const auto& e : kserve::server_extensions()) res->add_extensions(e);
    });
  }

  grpc::Status ModelMetadata(grpc::ServerContext* c, const inference::ModelMetadataRequest* req,
                             inference::ModelMetadataResponse* res) override {
    std::string label;
    return call(
        "ModelMetadata", c, kGuarded,
        [&] {
          const ModelHandle model = acquire(req->name(), req->version());
          label = model.name();
          const auto meta = kserve::model_metadata(model.ctx());
          res->set_name(meta.name);
          res->add_versions(std::string(kserve::kModelVersion));
          res->set_platform(std::string(kserve::kPlatform));
          auto fill = [](const kserve::TensorMeta& t, auto* out) {
            out->set_name(t.name);
            out->set_datatype(t.datatype);
            for (const auto d : t.shape) out->add_shape(d);
          };
          for (const auto& t : meta.inputs) fill(t, res->add_inputs());
          for (const auto& t : meta.outputs) fill(t, res->add_outputs());
        },
        &label);
  }

  grpc::Status ModelInfer(grpc::ServerContext* c, const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* res) override {
    std::string label;
    return call(
        "ModelInfer", c, kGuarded,
        [&]() -> std::optional<Response> {
          if (std::chrono::system_clock::now() > c->deadline())
            throw HttpError(504, error_type::kOverloaded, "the call's deadline has passed");
          const ModelHandle model = acquire(req->model_name(), req->model_version());
          label = model.name();
          const auto message_bytes = static_cast<int64_t>(req->ByteSizeLong());
          auto waiter = std::make_shared<Waiter>();
          auto gone = std::make_shared<std::atomic<bool>>(false);
          auto transport = std::make_shared<Request>();
          transport->method = "POST";
          transport->path = "ModelInfer";
          transport->received = Clock::now();
          transport->client_deadline = steady_deadline(*c);
          transport->client_gone = gone;
          transport->post = [waiter](std::function<void()> fn) { waiter->post(std::move(fn)); };
          // The message's texts, their copies in the request and in the inputs' JSON.
          if (shared_.budget)
            transport->memory = shared_.budget->reserve(4 * message_bytes + kRequestOverheadBytes,
                                                        "the gRPC request");
          auto work = [req, res, waiter, transport, model] {
            try {
              const auto request = to_request(*req);
              kserve::infer(
                  model.ctx(), *transport,
                  [waiter, model](Response r) { waiter->reply(std::move(r)); }, request,
                  [res, model = kserve::model_name(model.ctx()),
                   id = request.id](const std::vector<kserve::OutputTensor>& outputs) {
                    res->set_model_name(model);
                    res->set_model_version(std::string(kserve::kModelVersion));
                    res->set_id(id);
                    for (const auto& o : outputs) {
                      auto* t = res->add_outputs();
                      t->set_name(o.name);
                      t->set_datatype("FP32");
                      for (const auto d : o.shape) t->add_shape(d);
                      const auto count = kserve::element_count(o.shape, o.name);
                      res->add_raw_output_contents(reinterpret_cast<const char*>(o.data),
                                                   static_cast<size_t>(count) * sizeof(float));
                    }
                    return Response{};
                  });
            } catch (...) {
              waiter->reply(error_response(std::current_exception()));
            }
          };
          // A large message is parsed and tokenized on the large-request pool, as HTTP's are.
          if (shared_.large_requests && message_bytes >= shared_.limits.large_request_bytes) {
            shared_.large_requests->post([work, gone, waiter] {
              if (*gone)
                return waiter->reply(
                    error_response(kClientClosedRequest, error_type::kValidation,
                                   "the call was cancelled or its deadline passed"));
              work();
            });
          } else {
            work();
          }
          Response r =
              waiter->wait(*c, *gone);  // formatting (above) runs here, not on the scheduler
          if (r.status != 200) return r;
          return std::nullopt;
        },
        &label);
  }

  grpc::Status RepositoryIndex(grpc::ServerContext* c, const inference::RepositoryIndexRequest* req,
                               inference::RepositoryIndexResponse* res) override {
    return call("RepositoryIndex", c, kGuarded, [&] {
      for (const auto& m : repository_index(models_, req->ready())) {
        auto* out = res->add_models();
        out->set_name(m.name);
        out->set_version(m.version);
        out->set_state(m.state);
        out->set_reason(m.reason);
      }
    });
  }

  grpc::Status RepositoryModelLoad(grpc::ServerContext* c,
                                   const inference::RepositoryModelLoadRequest* req,
                                   inference::RepositoryModelLoadResponse*) override {
    return call("RepositoryModelLoad", c, kGuarded,
                [&] { control(req->model_name(), req->parameters(), /*load=*/true); });
  }

  grpc::Status RepositoryModelUnload(grpc::ServerContext* c,
                                     const inference::RepositoryModelUnloadRequest* req,
                                     inference::RepositoryModelUnloadResponse*) override {
    return call("RepositoryModelUnload", c, kGuarded,
                [&] { control(req->model_name(), req->parameters(), /*load=*/false); });
  }

 private:
  enum Access { kHealth, kGuarded };  // health: no API key, answered while draining

  // As HTTP's /v2/repository/models/{name}/load and /unload: an unknown name NOT_FOUND first,
  // then PERMISSION_DENIED without --allow-model-control, then INVALID_ARGUMENT for a
  // parameter Ember does not take, FAILED_PRECONDITION for an unload while requests hold it.
  template <class Parameters>
  void control(const std::string& name, const Parameters& parameters, bool load) const {
    const std::string served = served_name(name, "");
    if (served.empty()) throw Error(ErrorKind::kNotFound, cat("unknown model \"", name, "\""));
    std::vector<std::string> keys;
    for (const auto& [key, _] : parameters) keys.push_back(key);
    control_model(models_, served, load, allow_control_, keys);
  }

  // The rules the HTTP router applies, for one RPC: draining, API key, the exception
  // boundary (nothing a client sends can take the server down), and the request metrics.
  // fn returns void, or an error Response (std::optional) to send instead of OK.
  // model: set by fn to the model that answered (the request metrics' label, with several).
  template <class Fn>
  grpc::Status call(const char* method, grpc::ServerContext* c, Access access, Fn&& fn,
                    const std::string* model = nullptr) {
    const auto start = Clock::now();
    Response error;
    error.status = 200;
    try {
      if (access == kGuarded && router_.draining())
        throw HttpError(503, error_type::kUnhealthy, "the server is shutting down");
      if (access == kGuarded && !api_key_.empty() && !authorized(*c))
        throw HttpError(401, error_type::kValidation,
                        "missing or wrong API key (authorization: Bearer metadata)");
      if constexpr (std::is_void_v<decltype(fn())>) {
        fn();
      } else if (auto r = fn()) {
        error = std::move(*r);
      }
    } catch (...) {
      error = error_response(std::current_exception());
    }
    shared_.metrics->count_request(std::string("/inference.GRPCInferenceService/") + method,
                                   error.status, ms_between(start, Clock::now()) / 1000.0, "batch",
                                   model && !models_.single() ? *model : std::string());
    return error.status == 200 ? grpc::Status::OK : status_of(error);
  }

  bool authorized(const grpc::ServerContext& c) const {
    const auto& md = c.client_metadata();
    const auto it = md.find("authorization");
    if (it == md.end()) return false;
    const std::string got(it->second.data(), it->second.size());
    const std::string want = "Bearer " + api_key_;
    unsigned diff = got.size() == want.size() ? 0u : 1u;  // no early exit: constant time
    for (size_t i = 0; i < got.size(); ++i)
      diff |= unsigned(got[i] ^ (i < want.size() ? want[i] : 0));
    return diff == 0;
  }

  // The served model a KServe name and version stand for; "" when none.
  std::string served_name(const std::string& name, const std::string& version) const {
    if (!version.empty() && version != kserve::kModelVersion) return {};
    const auto& names = models_.names();
    if (std::find(names.begin(), names.end(), name) != names.end()) return name;
    return models_.from_kserve(name);
  }

  // The model a call names, loaded (404 NOT_FOUND for a name or version not served).
  ModelHandle acquire(const std::string& name, const std::string& version) const {
    const std::string served = served_name(name, version);
    if (served.empty())
      throw Error(ErrorKind::kNotFound,
                  cat("unknown model \"", name, "\"",
                      version.empty() ? "" : cat(" version \"", version, "\"")));
    return models_.acquire(served);
  }

  const ServedModels& models_;
  const ServingShared& shared_;
  const Router& router_;
  const std::string api_key_;
  const bool allow_control_;
};

}  // namespace

int grpc_code_for_http_status(int status) {
  switch (status) {
    case 200:
      return grpc::StatusCode::OK;
    case 400:
    case 413:
    case 422:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return grpc::StatusCode::UNAUTHENTICATED;
    case 403:
      return grpc::StatusCode::PERMISSION_DENIED;
    case 409:  // a model to unload that requests still hold
      return grpc::StatusCode::FAILED_PRECONDITION;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 424:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case 429:
    case 507:  // a model that cannot fit the memory budget
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    case 504:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

struct GrpcServer::State {
  Service service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::once_flag stopped;
  State(const ServedModels& models, const Router& router, std::string api_key, bool allow_control)
      : service(models, router, std::move(api_key), allow_control) {}
};

GrpcServer::GrpcServer(const GrpcServerOptions& o, const ServedModels& models, const Router& router)
    : state_(std::make_unique<State>(models, router, o.api_key, o.allow_model_control)) {
  EMBER_CHECK(o.port > 0 && o.port <= 65535, ErrorKind::kInvalidInput, "--grpc-port ", o.port,
              " is not a TCP port");
  const bool v6 = o.host.find(':') != std::string::npos;
  const std::string address = (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
  grpc::ServerBuilder builder;
  // Without this, gRPC sets SO_REUSEPORT and a second server on the same port would start
  // and silently share its traffic instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<size_t>(o.max_message_bytes, INT32_MAX)));
  // Handler threads are bounded: each call blocks one while it waits for the batcher.
  grpc::ResourceQuota quota("ember-grpc");
  quota.SetMaxThreads(std::max(2, o.max_threads));
  builder.SetResourceQuota(quota);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &state_->port);
  builder.RegisterService(&state_->service);
  state_->server = builder.BuildAndStart();
  EMBER_CHECK(state_->server && state_->port > 0, ErrorKind::kUnavailable,
              "cannot listen for gRPC on ", address, " (--grpc-port; 0 turns gRPC off)");
}

GrpcServer::~GrpcServer() {
  shutdown();
}

int GrpcServer::port() const {
  return state_->port;
}

void GrpcServer::shutdown(std::chrono::milliseconds grace) {
  std::call_once(state_->stopped, [this, grace] {
    state_->server->Shutdown(std::chrono::system_clock::now() + grace);
    state_->server->Wait();
  });
}

}  // namespace ember::serve
