#include "serve/metrics.h"

#include <algorithm>
#include <charconv>

namespace ember::serve {
namespace {

std::string num(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : "0";
}

const std::vector<double> kSecondsBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};

std::vector<double> powers_of_two(double top) {
  std::vector<double> b;
  for (double v = 1; v <= top; v *= 2) b.push_back(v);
  return b;
}

// TEI's duration buckets: 35 steps of x1.5 from 15 us (about 14.6 s at the top), computed by
// the same repeated product so that the `le` labels print alike.
std::vector<double> tei_seconds_buckets() {
  std::vector<double> b;
  double v = 0.00001;
  for (int i = 0; i < 35; ++i) b.push_back(v *= 1.5);
  return b;
}

// The routes TEI would count as requests: those that compute (not /tokenize, /decode, /info,
// /health, /metrics, the model listings). KServe inference counts too: it is the same work.
bool tei_counted_route(const std::string& route) {
  static const char* const kRoutes[] = {"/",
                                        "/embed",
                                        "/embed_all",
                                        "/embed_sparse",
                                        "/predict",
                                        "/rerank",
                                        "/similarity",
                                        "/v1/embeddings",
                                        "/inference.GRPCInferenceService/ModelInfer"};
  for (const char* r : kRoutes)
    if (route == r) return true;
  return route.size() > 6 && route.compare(route.size() - 6, 6, "/infer") == 0;
}

// TEI's `err` label for a failed request, by the status Ember answered.
const char* tei_failure_kind(int status) {
  if (status == 413) return "batch_size";
  if (status == 424) return "model_type";
  if (status == 429) return "overloaded";
  if (status == 499) return "dropped";
  if (status >= 500) return "inference";
  return "validation";
}

// Ember gauges also rendered under TEI's name (the gauge is registered once, in server.cc).
struct GaugeAlias {
  const char* ember;
  const char* tei;
  const char* help;
};
constexpr GaugeAlias kTeiGaugeAliases[] = {
    {"ember_queue_inputs", "te_queue_size",
     "Inputs waiting for a batch (text-embeddings-inference's name)"}};

// A Prometheus label value: backslash, quote and newline escaped.
std::string escape_label(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void render_labelled_counter(std::string& out, const char* name, const char* help,
                             const char* label, const std::map<std::string, uint64_t>& values) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
  for (const auto& [value, n] : values)
    out += std::string(name) + "{" + label + "=\"" + value + "\"} " + std::to_string(n) + "\n";
}

}  // namespace

const char* tei_request_method(std::string_view body) {
  for (const std::string_view key :
       {std::string_view("\"inputs\""), std::string_view("\"input\"")}) {
    const size_t at = body.find(key);
    if (at == std::string_view::npos) continue;
    size_t i = at + key.size();
    auto skip_space = [&] {
      while (i < body.size() &&
             (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
        ++i;
    };
    skip_space();
    if (i >= body.size() || body[i] != ':') continue;
    ++i;
    skip_space();
    if (i < body.size() && body[i] == '"') return "single";
    if (i >= body.size() || body[i] != '[') return "batch";
    ++i;  // one input as token ids ([101, 2023, ...]) is single too, as in TEI
    skip_space();
    return i < body.size() && body[i] >= '0' && body[i] <= '9' ? "single" : "batch";
  }
  return "batch";
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard lock(mutex_);
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  render_series(out, name, "");
}

void Histogram::render_series(std::string& out, const std::string& name,
                              const std::string& label) const {
  std::lock_guard lock(mutex_);
  const std::string first = label.empty() ? "" : label + ",";
  const std::string only = label.empty() ? " " : "{" + label + "} ";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + first + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum" + only + num(sum_) + "\n" + name + "_count" + only + std::to_string(count_) +
         "\n";
}

Metrics::Families::Families()
    : request_seconds(kSecondsBuckets),
      tokenization_seconds(kSecondsBuckets),
      queue_seconds(kSecondsBuckets),
      inference_seconds(kSecondsBuckets),
      batch_seconds(kSecondsBuckets),
      batch_size(powers_of_two(1024)),
      batch_tokens(powers_of_two(1 << 20)) {}

Metrics::Families& Metrics::families(const std::string& model) {
  std::lock_guard lock(mutex_);
  auto& f = families_[model];
  if (!f) f = std::make_unique<Families>();
  return *f;
}

Metrics::Metrics()
    : tei_duration_(tei_seconds_buckets()),
      tei_tokenization_(tei_seconds_buckets()),
      tei_queue_(tei_seconds_buckets()),
      tei_inference_(tei_seconds_buckets()),
      tei_batch_size_(powers_of_two(4096)),
      tei_batch_tokens_(powers_of_two(1 << 20)) {
  families_[""] = std::make_unique<Families>();  // rendered even before the first request
}

void Metrics::count_request(const std::string& route, int status, double seconds,
                            const char* tei_method, const std::string& model) {
  families(model).request_seconds.observe(seconds);
  // TEI counts what reaches a handler; its API key check answers 401 before that.
  const bool tei = status != 401 && tei_counted_route(route);
  const bool success = status >= 200 && status < 300;
  if (tei && success) tei_duration_.observe(seconds);
  std::lock_guard lock(mutex_);
  ++requests_[{route, status, model}];
  if (!tei) return;
  ++tei_count_[tei_method];
  if (success)
    ++tei_success_[tei_method];
  else
    ++tei_failure_[tei_failure_kind(status)];
}

void Metrics::observe_stages(double tokenization_s, double queue_s, double inference_s,
                             const std::string& model) {
  Families& f = families(model);
  f.tokenization_seconds.observe(tokenization_s);
  f.queue_seconds.observe(queue_s);
  f.inference_seconds.observe(inference_s);
  tei_tokenization_.observe(tokenization_s);
  tei_queue_.observe(queue_s);
  tei_inference_.observe(inference_s);
}

void Metrics::observe_batch(int64_t sequences, int64_t tokens, double seconds,
                            const std::string& model) {
  Families& f = families(model);
  f.batch_size.observe(static_cast<double>(sequences));
  f.batch_tokens.observe(static_cast<double>(tokens));
  f.batch_seconds.observe(seconds);
  tei_batch_size_.observe(static_cast<double>(sequences));
  tei_batch_tokens_.observe(static_cast<double>(tokens));
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  gauges_.push_back({std::move(name), std::move(help), "gauge", std::move(read)});
}

void Metrics::add_per_model(std::string name, std::string help, std::string type,
                            std::function<LabelledValues()> read) {
  std::lock_guard lock(mutex_);
  per_model_.push_back({std::move(name), std::move(help), std::move(type), std::move(read)});
}

void Metrics::add_counter(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  gauges_.push_back({std::move(name), std::move(help), "counter", std::move(read)});
}

std::string Metrics::render() const {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    out += "# HELP ember_http_requests_total HTTP requests answered, by route, status and model\n";
    out += "# TYPE ember_http_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
      out += "ember_http_requests_total{route=\"" + key.route + "\",status=\"" +
             std::to_string(key.status) + '"';
      if (!key.model.empty()) out += ",model=\"" + escape_label(key.model) + '"';
      out += "} " + std::to_string(n) + "\n";
    }
    for (const auto& g : per_model_) {
      out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " " + g.type + "\n";
      for (const auto& [model, v] : g.read())
        out += g.name + "{model=\"" + escape_label(model) + "\"} " + num(v) + "\n";
    }
    for (const auto& g : gauges_) {
      const std::string value = num(g.read());
      out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " " + g.type + "\n" +
             g.name + " " + value + "\n";
      for (const auto& alias : kTeiGaugeAliases)
        if (g.name == alias.ember)
          out += std::string("# HELP ") + alias.tei + " " + alias.help + "\n# TYPE " + alias.tei +
                 " gauge\n" + alias.tei + " " + value + "\n";
    }
    render_labelled_counter(
        out, "te_request_count",
        "Inference requests answered (text-embeddings-inference's name; TEI counts on arrival)",
        "method", tei_count_);
    render_labelled_counter(out, "te_request_success",
                            "Inference requests answered 2xx (text-embeddings-inference's name)",
                            "method", tei_success_);
    render_labelled_counter(out, "te_request_failure",
                            "Inference requests failed, by kind (text-embeddings-inference's name)",
                            "err", tei_failure_);
  }
  // Ember's histograms: each family's series for every model ("": no label).
  std::vector<std::pair<std::string, const Families*>> models;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [model, f] : families_) models.emplace_back(model, f.get());
  }
  const auto family = [&](const char* name, const char* help, Histogram Families::*h) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
    for (const auto& [model, f] : models)
      (f->*h).render_series(out, name, model.empty() ? "" : "model=\"" + escape_label(model) + '"');
  };
  family("ember_request_duration_seconds", "Time from request to response",
         &Families::request_seconds);
  family("ember_tokenization_duration_seconds", "Tokenization time per request",
         &Families::tokenization_seconds);
  family("ember_queue_duration_seconds", "Time a request waited for a batch",
         &Families::queue_seconds);
  family("ember_inference_duration_seconds", "Compute time of the batches a request ran in",
         &Families::inference_seconds);
  family("ember_batch_duration_seconds", "Engine::run time per batch", &Families::batch_seconds);
  family("ember_batch_size", "Sequences per batch", &Families::batch_size);
  family("ember_batch_tokens", "Tokens per batch", &Families::batch_tokens);
  tei_duration_.render(out, "te_request_duration", "Time from request to a 2xx response");
  tei_tokenization_.render(out, "te_request_tokenization_duration",
                           "Tokenization time per computed request");
  tei_queue_.render(out, "te_request_queue_duration", "Time a computed request waited for a batch");
  tei_inference_.render(out, "te_request_inference_duration",
                        "Compute time of the batches a computed request ran in");
  tei_batch_size_.render(out, "te_batch_next_size", "Sequences per batch");
  tei_batch_tokens_.render(out, "te_batch_next_tokens", "Tokens per batch");
  return out;
}

}  // namespace ember::serve
