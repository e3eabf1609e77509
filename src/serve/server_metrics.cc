#include "serve/server_metrics.h"

#include "serve/process_memory.h"

namespace ember::serve {
namespace {

// One value per known model, from the registry's status of each.
template <class Fn>
std::function<Metrics::LabelledValues()> per_model(const ServedModels& models, Fn value) {
  return [&models, value] {
    Metrics::LabelledValues out;
    for (const auto& s : models.registry().list()) out.emplace_back(s.name, value(s));
    return out;
  };
}

}  // namespace

void add_server_metrics(Metrics& metrics, const MemoryBudget& budget, const ServedModels& models,
                        const ResultCache& cache) {
  const MemoryBudget* b = &budget;
  metrics.add_gauge("ember_memory_budget_bytes", "Bytes requests in flight may hold together",
                    [b] { return static_cast<double>(b->capacity()); });
  metrics.add_gauge("ember_memory_reserved_bytes", "Bytes reserved by requests in flight",
                    [b] { return static_cast<double>(b->in_use()); });
  metrics.add_gauge("ember_memory_reserved_peak_bytes", "Most bytes reserved at once",
                    [b] { return static_cast<double>(b->peak()); });
  metrics.add_counter("ember_memory_refused_total",
                      "Requests refused (429 / 413) because their memory did not fit",
                      [b] { return static_cast<double>(b->refused()); });
  metrics.add_gauge("ember_process_resident_bytes", "Resident memory of the process (VmRSS)",
                    [] { return static_cast<double>(resident_bytes()); });
  metrics.add_gauge("ember_process_resident_peak_bytes", "Peak resident memory (VmHWM)",
                    [] { return static_cast<double>(peak_resident_bytes()); });

  const ServedModels* m = &models;
  metrics.add_gauge("ember_queue_depth", "Requests waiting for a batch",
                    [m] { return static_cast<double>(m->queue_depth()); });
  metrics.add_gauge("ember_queue_inputs", "Inputs of the requests waiting for a batch",
                    [m] { return static_cast<double>(m->queued_inputs()); });
  metrics.add_gauge("ember_batcher_pending_requests", "Requests queued or computing",
                    [m] { return static_cast<double>(m->pending_jobs()); });
  metrics.add_counter("ember_requests_dropped_disconnected_total",
                      "Requests dropped before compute because the client had disconnected",
                      [m] { return static_cast<double>(m->dropped_disconnected()); });
  metrics.add_counter("ember_requests_dropped_deadline_total",
                      "Requests dropped before compute because they waited past their deadline",
                      [m] { return static_cast<double>(m->dropped_deadline()); });
  metrics.add_counter("ember_batch_isolation_reruns_total",
                      "Failed batches split and run again so that a failing request fails alone",
                      [m] { return static_cast<double>(m->isolation_reruns()); });

  const ResultCache* c = &cache;
  metrics.add_counter("ember_cache_hits_total", "Inputs answered from the result cache",
                      [c] { return static_cast<double>(c->hits()); });
  metrics.add_counter("ember_cache_misses_total", "Inputs looked up and not in the result cache",
                      [c] { return static_cast<double>(c->misses()); });
  metrics.add_gauge("ember_cache_entries", "Entries in the result cache",
                    [c] { return static_cast<double>(c->entries()); });
  metrics.add_gauge("ember_cache_bytes", "Bytes charged to the result cache",
                    [c] { return static_cast<double>(c->bytes()); });

  // Each known model, loaded or not.
  metrics.add_gauge("ember_models_budget_bytes",
                    "Bytes the loaded models may hold together (--memory-budget; 0: no limit)",
                    [m] { return static_cast<double>(m->registry().budget_bytes()); });
  metrics.add_per_model("ember_model_loaded", "1 while the model is loaded, else 0", "gauge",
                        per_model(models, [](const ModelStatus& s) {
                          return s.state == ModelState::kLoaded ? 1.0 : 0.0;
                        }));
  metrics.add_per_model(
      "ember_model_resident_bytes",
      "Bytes the loaded model is charged: resident growth across its load and its compute "
      "workspace",
      "gauge",
      per_model(models, [](const ModelStatus& s) { return static_cast<double>(s.bytes); }));
  metrics.add_per_model(
      "ember_model_loads_total", "Loads of the model", "counter",
      per_model(models, [](const ModelStatus& s) { return static_cast<double>(s.loads); }));
  metrics.add_per_model(
      "ember_model_unloads_total", "Unloads of the model (evictions, repository control, reloads)",
      "counter",
      per_model(models, [](const ModelStatus& s) { return static_cast<double>(s.unloads); }));
  metrics.add_per_model(
      "ember_model_load_seconds", "Time the model's last load took", "gauge",
      per_model(models, [](const ModelStatus& s) { return s.last_load_ms / 1e3; }));
  metrics.add_per_model(
      "ember_model_compute_threads",
      "The model's compute threads (its pool; 0: all cores, until it is loaded)", "gauge",
      per_model(models, [](const ModelStatus& s) { return static_cast<double>(s.threads); }));
  metrics.add_per_model(
      "ember_model_requests_waiting", "Requests waiting for the model's load", "gauge",
      per_model(models, [](const ModelStatus& s) { return static_cast<double>(s.waiting); }));
  metrics.add_per_model(
      "ember_model_requests_in_flight", "Requests holding the model loaded", "gauge",
      per_model(models, [](const ModelStatus& s) { return static_cast<double>(s.leases); }));
}

}  // namespace ember::serve
