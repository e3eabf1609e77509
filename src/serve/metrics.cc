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

}  // namespace

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
  std::lock_guard lock(mutex_);
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
    out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum " + num(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : request_seconds_(kSecondsBuckets),
      tokenization_seconds_(kSecondsBuckets),
      queue_seconds_(kSecondsBuckets),
      inference_seconds_(kSecondsBuckets),
      batch_seconds_(kSecondsBuckets),
      batch_size_(powers_of_two(1024)),
      batch_tokens_(powers_of_two(1 << 20)) {}

void Metrics::count_request(const std::string& route, int status, double seconds) {
  request_seconds_.observe(seconds);
  std::lock_guard lock(mutex_);
  ++requests_[{route, status}];
}

void Metrics::observe_stages(double tokenization_s, double queue_s, double inference_s) {
  tokenization_seconds_.observe(tokenization_s);
  queue_seconds_.observe(queue_s);
  inference_seconds_.observe(inference_s);
}

void Metrics::observe_batch(int64_t sequences, int64_t tokens, double seconds) {
  batch_size_.observe(static_cast<double>(sequences));
  batch_tokens_.observe(static_cast<double>(tokens));
  batch_seconds_.observe(seconds);
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  gauges_.push_back({std::move(name), std::move(help), "gauge", std::move(read)});
}

void Metrics::add_counter(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  gauges_.push_back({std::move(name), std::move(help), "counter", std::move(read)});
}

std::string Metrics::render() const {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    out += "# HELP ember_http_requests_total HTTP requests answered, by route and status\n";
    out += "# TYPE ember_http_requests_total counter\n";
    for (const auto& [key, n] : requests_)
      out += "ember_http_requests_total{route=\"" + key.first + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    for (const auto& g : gauges_)
      out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " " + g.type + "\n" +
             g.name + " " + num(g.read()) + "\n";
  }
  request_seconds_.render(out, "ember_request_duration_seconds", "Time from request to response");
  tokenization_seconds_.render(out, "ember_tokenization_duration_seconds",
                               "Tokenization time per request");
  queue_seconds_.render(out, "ember_queue_duration_seconds", "Time a request waited for a batch");
  inference_seconds_.render(out, "ember_inference_duration_seconds",
                            "Compute time of the batches a request ran in");
  batch_seconds_.render(out, "ember_batch_duration_seconds", "Engine::run time per batch");
  batch_size_.render(out, "ember_batch_size", "Sequences per batch");
  batch_tokens_.render(out, "ember_batch_tokens", "Tokens per batch");
  return out;
}

}  // namespace ember::serve
