// The models one server knows, loaded on demand under a memory budget. Each known model has a
// name and a source (a directory or cache name, with its load options); it is loaded on its
// first acquire() (or at start, preload()), on one loader thread so that loads are measured one
// at a time. When a load would take the loaded models past the budget, the least recently used
// model that is neither pinned nor leased is unloaded first; a model that cannot fit even then
// is refused with a typed error. A Lease keeps its model loaded for as long as it lives: a
// request holds one from routing to its answer, so a model with requests in flight is never
// unloaded.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ember/ember.h"

namespace ember::serve {

struct ModelSource {
  std::string name;  // what requests call it
  std::string path;  // a directory or a name in the model cache
  ember::LoadOptions options;
  bool pinned = false;  // never unloaded for another model (--pin)
};

enum class ModelState { kUnloaded, kLoading, kLoaded, kFailed };
const char* model_state_name(ModelState s);

struct ModelStatus {
  std::string name;
  ModelState state = ModelState::kUnloaded;
  bool pinned = false;
  int64_t bytes = 0;  // charged to the budget while loaded
  int64_t leases = 0;
  int64_t loads = 0, unloads = 0;
  double last_load_ms = 0;
  std::string error;         // kFailed: why the last load failed
  int64_t needed_bytes = 0;  // what the last load needed (0: not known)
  // Compute threads: the loaded model's pool, else what its load asks for (0: all cores).
  int threads = 0;
  int64_t waiting = 0;  // requests waiting for its load (parked or blocked)
};

struct RegistryOptions {
  int64_t budget_bytes = 0;  // 0: no limit
  // What a loaded model is charged: by default the growth of the process's resident memory
  // across its load plus its compute workspace for `max_batch_tokens` in `max_batch_inputs`.
  std::function<int64_t(const ember::Model&, int64_t resident_growth)> cost;
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_inputs = 64;
  // What the server builds on each loaded model (its batcher, its routes' context), made right
  // after the load and destroyed before the model; a throw fails the load.
  std::function<std::shared_ptr<void>(const std::string& name, const ember::Model&)> attach;
};

class ModelRegistry {
 public:
  struct Loaded;
  // Keeps one loaded model from being unloaded; movable, cheap to copy.
  class Lease {
   public:
    Lease() = default;
    const ember::Model& model() const;
    const std::string& name() const;
    // What RegistryOptions::attach made for this model (null without attach).
    void* attached() const;
    explicit operator bool() const { return loaded_ != nullptr; }

   private:
    friend class ModelRegistry;
    explicit Lease(std::shared_ptr<Loaded> l) : loaded_(std::move(l)) {}
    std::shared_ptr<Loaded> loaded_;
  };

  ModelRegistry(RegistryOptions options, std::vector<ModelSource> sources);
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // The model, loading it first if it is not loaded: waits up to `wait` for the load, then
  // throws kUnavailable ("model 'x' is loading") so that the caller can answer 503 with
  // Retry-After. Throws kNotFound for a name it does not know, and the load's own error (or
  // kOverloaded when the model cannot fit in the budget) when the load failed.
  Lease acquire(const std::string& name, std::chrono::milliseconds wait);

  // Called once the load a parked request waits for has ended, or its wait has passed, on the
  // registry's loader or timer thread: `get` returns the lease, or throws what acquire()
  // would have (kUnavailable when the wait passed first). Must not block.
  using Resume = std::function<void(const std::function<Lease()>& get)>;
  // acquire() without waiting on this thread: the lease when the model is loaded (throws as
  // acquire() does for an unknown name or a failed load); while it loads, returns nothing and
  // keeps the Resume that park() makes (called with the mutex held: no call back), to be
  // called when the load ends or after `wait`. An HTTP request parks here, so that no I/O
  // thread waits for a load.
  std::optional<Lease> acquire_or_park(const std::string& name, std::chrono::milliseconds wait,
                                       const std::function<Resume()>& park);
  // Resumes every parked request now with kUnavailable, and parks none from now on (the
  // server is stopping).
  void stop_parking();

  // Loads every model now, in order, waiting for each (--preload); throws the first failure.
  void preload();
  // Unloads a model that no request holds (repository control); false if it is leased.
  bool unload(const std::string& name);

  // Loads a model's source again beside the loaded one and swaps it in once loaded: requests
  // holding the old one finish on it, new ones get the new one (repository control). Loads it
  // if it was not loaded. Waits for the load; throws its error (the old model stays).
  void reload(const std::string& name);

  // Calls fn on each model's attachment while loaded (mutex held: fn must not call back).
  void for_each_attached(const std::function<void(void*)>& fn) const;

  std::vector<ModelStatus> list() const;
  bool knows(const std::string& name) const;
  int64_t loaded_bytes() const;
  int64_t budget_bytes() const { return options_.budget_bytes; }

 private:
  struct Entry;
  struct Parked;
  void loader_loop();
  void timer_loop();  // resumes parked requests whose wait has passed
  // Takes `e`'s parked requests once its load has ended; each with its lease or error.
  std::vector<std::pair<Resume, std::function<Lease()>>> take_parked(Entry& e);
  // Marks `e` for loading if it is not loaded or loading (mutex_ held).
  void want_loaded(Entry& e);
  void load(Entry& e);  // on the loader thread, mutex_ not held
  // Unloads least recently used idle, unpinned models until `need` more bytes fit; false if
  // they cannot be made to fit. mutex_ held.
  bool make_room(int64_t need, const Entry& loading);
  void unload_locked(Entry& e);
  int64_t bytes_locked() const;

  const RegistryOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;         // a load finished or was queued
  std::condition_variable parked_changed_;  // a request was parked (for timer_loop)
  std::map<std::string, std::unique_ptr<Entry>> entries_;
  std::vector<Entry*> to_load_;
  uint64_t clock_ = 0;  // logical time of last use, for LRU
  bool stopping_ = false;
  bool parking_stopped_ = false;
  std::thread loader_;
  std::thread timer_;
};

}  // namespace ember::serve
