// Prometheus text-format metrics: request counts by route and status, stage latency
// histograms, batch size and token histograms, queue depth. Thread-safe; cheap to update.
// The same events are also rendered under text-embeddings-inference's names (te_queue_size,
// te_request_count, te_request_duration, te_batch_next_size, ...: docs/deploy.md), so that
// dashboards and autoscaling rules written for TEI read Ember unchanged.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines of metric `name` (caller holds no lock).
  void render(std::string& out, const std::string& name, const std::string& help) const;
  // The same lines without HELP/TYPE, each with `label` (`model="x"`; "" for none) first.
  void render_series(std::string& out, const std::string& name, const std::string& label) const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // one per bound, plus +Inf; not cumulative
  double sum_ = 0;
  uint64_t count_ = 0;
};

// TEI's `method` label of te_request_count / te_request_success: "single" when the body's
// "inputs" (OpenAI: "input") is one string or one list of token ids, "batch" otherwise (a list
// of inputs, a tensor, no body).
// A byte scan for the first such key, not a parse: it only labels a metric.
const char* tei_request_method(std::string_view body);

class Metrics {
 public:
  Metrics();
  // tei_method: tei_request_method of the request's body.
  // model: the model that answered ("" when none did: unknown routes, health, errors before
  // routing), a `model` label on ember_http_requests_total.
  void count_request(const std::string& route, int status, double seconds,
                     const char* tei_method = "batch", const std::string& model = "");
  // model: the model's name with several models, "" with one (no label, as before).
  void observe_stages(double tokenization_s, double queue_s, double inference_s,
                      const std::string& model = "");
  void observe_batch(int64_t sequences, int64_t tokens, double seconds,
                     const std::string& model = "");
  // Gauges read at scrape time (queue depth, requests waiting on the batcher).
  void add_gauge(std::string name, std::string help, std::function<double()> read);
  // Counters kept elsewhere (the result cache's hits and misses), read at scrape time.
  void add_counter(std::string name, std::string help, std::function<double()> read);
  // Series read at scrape time with one `model` label each (per-model state and counts).
  using LabelledValues = std::vector<std::pair<std::string, double>>;
  void add_per_model(std::string name, std::string help, std::string type,
                     std::function<LabelledValues()> read);
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  struct RequestKey {
    std::string route;
    int status;
    std::string model;
    auto operator<=>(const RequestKey&) const = default;
  };
  std::map<RequestKey, uint64_t> requests_;
  struct PerModel {
    std::string name, help, type;
    std::function<LabelledValues()> read;
  };
  std::vector<PerModel> per_model_;
  // Ember's per-request histograms of one model ("": unlabelled).
  struct Families {
    Families();
    Histogram request_seconds, tokenization_seconds, queue_seconds, inference_seconds;
    Histogram batch_seconds, batch_size, batch_tokens;
  };
  Families& families(const std::string& model);  // mutex_ not held
  std::map<std::string, std::unique_ptr<Families>> families_;
  struct Gauge {
    std::string name, help, type;
    std::function<double()> read;
  };
  std::vector<Gauge> gauges_;
  // text-embeddings-inference's names: counters by label value, histograms with its buckets.
  std::map<std::string, uint64_t> tei_count_, tei_success_, tei_failure_;
  Histogram tei_duration_, tei_tokenization_, tei_queue_, tei_inference_;
  Histogram tei_batch_size_, tei_batch_tokens_;
};

}  // namespace ember::serve
