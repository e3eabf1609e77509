#include "serve/model_registry.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "serve/process_memory.h"

namespace ember::serve {
namespace {

std::string mib(int64_t bytes) {
  if (bytes < (1 << 20)) return cat((bytes + 1023) >> 10, " KiB");
  return cat((bytes + (1 << 19)) >> 20, " MiB");
}

}  // namespace

const char* model_state_name(ModelState s) {
  switch (s) {
    case ModelState::kUnloaded:
      return "unloaded";
    case ModelState::kLoading:
      return "loading";
    case ModelState::kLoaded:
      return "loaded";
    case ModelState::kFailed:
      return "failed";
  }
  return "unknown";
}

struct ModelRegistry::Loaded {
  std::string name;
  ember::Model model;
  std::shared_ptr<void> attached;  // destroyed before the model it was made on
};

struct ModelRegistry::Parked {
  std::chrono::steady_clock::time_point deadline;
  Resume resume;
};

struct ModelRegistry::Entry {
  ModelSource source;
  ModelState state = ModelState::kUnloaded;
  std::shared_ptr<Loaded> loaded;  // set while kLoaded; each Lease holds another reference
  int64_t bytes = 0;
  uint64_t last_used = 0;
  int64_t loads = 0, unloads = 0;
  double last_load_ms = 0;
  int64_t needed = 0;                 // the last load's cost
  std::optional<Error> error;         // kFailed
  bool reloading = false;             // loading again beside the loaded model (reload())
  std::optional<Error> reload_error;  // why the last reload failed (the old model stayed)
  std::vector<Parked> parked;         // requests waiting for the load (acquire_or_park)
  int64_t blocked = 0;                // callers of acquire() waiting for the load

  bool idle() const { return loaded && loaded.use_count() == 1; }
};

const ember::Model& ModelRegistry::Lease::model() const {
  EMBER_CHECK(loaded_ != nullptr, ErrorKind::kInternal, "an empty model lease was used");
  return loaded_->model;
}

const std::string& ModelRegistry::Lease::name() const {
  EMBER_CHECK(loaded_ != nullptr, ErrorKind::kInternal, "an empty model lease was used");
  return loaded_->name;
}

void* ModelRegistry::Lease::attached() const {
  EMBER_CHECK(loaded_ != nullptr, ErrorKind::kInternal, "an empty model lease was used");
  return loaded_->attached.get();
}

ModelRegistry::ModelRegistry(RegistryOptions options, std::vector<ModelSource> sources)
    : options_(std::move(options)) {
  EMBER_CHECK(!sources.empty(), ErrorKind::kInvalidInput, "no model to serve");
  for (auto& s : sources) {
    EMBER_CHECK(!s.name.empty(), ErrorKind::kInvalidInput, "a model needs a name (", s.path, ")");
    EMBER_CHECK(!entries_.contains(s.name), ErrorKind::kInvalidInput, "two models are named '",
                s.name, "'");
    auto e = std::make_unique<Entry>();
    e->source = std::move(s);
    entries_.emplace(e->source.name, std::move(e));
  }
  loader_ = std::thread([this] { loader_loop(); });
  timer_ = std::thread([this] { timer_loop(); });
}

ModelRegistry::~ModelRegistry() {
  stop_parking();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  parked_changed_.notify_all();
  loader_.join();
  timer_.join();
}

void ModelRegistry::want_loaded(Entry& e) {
  // A load refused for want of room is tried again: models in use then may be idle now. Any
  // other failure (a broken directory) stays until the model is unloaded or reloaded.
  if (e.state == ModelState::kFailed && e.error && e.error->kind() == ErrorKind::kOverloaded)
    e.state = ModelState::kUnloaded;
  if (e.state == ModelState::kUnloaded) {
    EMBER_CHECK(!stopping_, ErrorKind::kUnavailable, "the server is stopping");
    e.state = ModelState::kLoading;
    e.error.reset();
    to_load_.push_back(&e);
    changed_.notify_all();
  }
}

ModelRegistry::Lease ModelRegistry::acquire(const std::string& name,
                                            std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto it = entries_.find(name);
  EMBER_CHECK(it != entries_.end(), ErrorKind::kNotFound, "model '", name, "' is not served");
  Entry& e = *it->second;
  want_loaded(e);
  ++e.blocked;
  changed_.wait_for(lock, wait, [&] { return e.state != ModelState::kLoading; });
  --e.blocked;
  switch (e.state) {
    case ModelState::kLoaded:
      e.last_used = ++clock_;
      return Lease(e.loaded);
    case ModelState::kFailed:
      throw *e.error;
    case ModelState::kLoading:
    case ModelState::kUnloaded:
      break;
  }
  throw Error(ErrorKind::kUnavailable, cat("model '", name, "' is loading"));
}

std::optional<ModelRegistry::Lease> ModelRegistry::acquire_or_park(
    const std::string& name, std::chrono::milliseconds wait, const std::function<Resume()>& park) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto it = entries_.find(name);
  EMBER_CHECK(it != entries_.end(), ErrorKind::kNotFound, "model '", name, "' is not served");
  Entry& e = *it->second;
  want_loaded(e);
  if (e.state == ModelState::kLoading && wait.count() > 0) {
    EMBER_CHECK(!parking_stopped_, ErrorKind::kUnavailable, "the server is stopping");
    e.parked.push_back(Parked{std::chrono::steady_clock::now() + wait, park()});
    parked_changed_.notify_all();
    return std::nullopt;
  }
  lock.unlock();
  return acquire(name, std::chrono::milliseconds(0));  // loaded, failed, or no wait allowed
}

void ModelRegistry::stop_parking() {
  std::vector<Resume> resumes;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    parking_stopped_ = true;
    for (auto& [_, e] : entries_) {
      for (auto& p : e->parked) resumes.push_back(std::move(p.resume));
      e->parked.clear();
    }
  }
  for (auto& r : resumes)
    r([]() -> Lease { throw Error(ErrorKind::kUnavailable, "the server is stopping"); });
}

std::vector<std::pair<ModelRegistry::Resume, std::function<ModelRegistry::Lease()>>>
ModelRegistry::take_parked(Entry& e) {
  std::vector<std::pair<Resume, std::function<Lease()>>> out;
  if (e.state == ModelState::kLoading || e.parked.empty()) return out;
  std::function<Lease()> get;
  if (e.state == ModelState::kLoaded) {
    e.last_used = ++clock_;
    get = [lease = Lease(e.loaded)] { return lease; };
  } else {
    get = [error = e.error ? *e.error
                           : Error(ErrorKind::kUnavailable,
                                   cat("model '", e.source.name, "' was unloaded"))]() -> Lease {
      throw error;
    };
  }
  for (auto& p : e.parked) out.emplace_back(std::move(p.resume), get);
  e.parked.clear();
  return out;
}

void ModelRegistry::timer_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    auto next = std::chrono::steady_clock::time_point::max();
    std::vector<std::pair<std::string, Resume>> due;
    for (auto& [name, e] : entries_) {
      auto& parked = e->parked;
      for (auto p = parked.begin(); p != parked.end();) {
        if (p->deadline <= now) {
          due.emplace_back(name, std::move(p->resume));
          p = parked.erase(p);
        } else {
          next = std::min(next, p->deadline);
          ++p;
        }
      }
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& d : due)
        d.second([&name = d.first]() -> Lease {
          throw Error(ErrorKind::kUnavailable, cat("model '", name, "' is loading"));
        });
      lock.lock();
      continue;
    }
    if (next == std::chrono::steady_clock::time_point::max())
      parked_changed_.wait(lock);
    else
      parked_changed_.wait_until(lock, next);
  }
}

void ModelRegistry::preload() {
  for (const auto& name : [this] {
         std::lock_guard<std::mutex> lock(mutex_);
         std::vector<std::string> names;
         for (const auto& [n, _] : entries_) names.push_back(n);
         return names;
       }())
    acquire(name, std::chrono::hours(24));
}

bool ModelRegistry::unload(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(name);
  EMBER_CHECK(it != entries_.end(), ErrorKind::kNotFound, "model '", name, "' is not served");
  Entry& e = *it->second;
  if (e.state == ModelState::kFailed) {
    e.state = ModelState::kUnloaded;
    e.error.reset();
    return true;
  }
  if (e.state != ModelState::kLoaded) return e.state == ModelState::kUnloaded;
  if (!e.idle()) return false;
  unload_locked(e);
  return true;
}

void ModelRegistry::reload(const std::string& name) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto it = entries_.find(name);
  EMBER_CHECK(it != entries_.end(), ErrorKind::kNotFound, "model '", name, "' is not served");
  Entry& e = *it->second;
  if (e.state != ModelState::kLoaded || e.reloading) {
    if (e.state == ModelState::kFailed) e.state = ModelState::kUnloaded;
    lock.unlock();
    acquire(name, std::chrono::hours(24));
    return;
  }
  EMBER_CHECK(!stopping_, ErrorKind::kUnavailable, "the server is stopping");
  e.reloading = true;
  e.reload_error.reset();
  to_load_.push_back(&e);
  changed_.notify_all();
  changed_.wait(lock, [&] { return !e.reloading; });
  if (e.reload_error) throw *e.reload_error;
}

void ModelRegistry::for_each_attached(const std::function<void(void*)>& fn) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [_, e] : entries_)
    if (e->loaded && e->loaded->attached) fn(e->loaded->attached.get());
}

void ModelRegistry::unload_locked(Entry& e) {
  e.loaded.reset();  // the last reference: the model and its threads go here
  e.state = ModelState::kUnloaded;
  e.bytes = 0;
  ++e.unloads;
}

bool ModelRegistry::make_room(int64_t need, const Entry& loading) {
  if (options_.budget_bytes <= 0) return true;
  while (bytes_locked() + need > options_.budget_bytes) {
    Entry* victim = nullptr;
    for (auto& [_, e] : entries_) {
      if (e.get() == &loading || e->state != ModelState::kLoaded || e->source.pinned || !e->idle())
        continue;
      if (!victim || e->last_used < victim->last_used) victim = e.get();
    }
    if (!victim) return false;
    unload_locked(*victim);
  }
  return true;
}

void ModelRegistry::loader_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !to_load_.empty(); });
    if (stopping_) return;
    Entry& e = *to_load_.front();
    to_load_.erase(to_load_.begin());
    lock.unlock();
    load(e);
    lock.lock();
    changed_.notify_all();
    auto resumes = take_parked(e);
    if (resumes.empty()) continue;
    lock.unlock();
    for (auto& [resume, get] : resumes) resume(get);
    resumes.clear();  // the leases, outside the mutex
    lock.lock();
  }
}

void ModelRegistry::load(Entry& e) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t before = resident_bytes();
  std::optional<Error> error;
  std::shared_ptr<Loaded> loaded;
  int64_t cost = 0;
  try {
    loaded = std::make_shared<Loaded>(
        Loaded{e.source.name, ember::Model::load(e.source.path, e.source.options), nullptr});
    if (options_.attach) loaded->attached = options_.attach(e.source.name, loaded->model);
    const int64_t growth = std::max<int64_t>(0, resident_bytes() - before);
    cost = options_.cost ? options_.cost(loaded->model, growth)
                         : growth + loaded->model.compute_bytes(options_.max_batch_tokens,
                                                                options_.max_batch_inputs);
  } catch (const Error& err) {
    error = err;
  } catch (const std::bad_alloc&) {
    error = Error(ErrorKind::kOverloaded, cat("out of memory loading model '", e.source.name, "'"));
  } catch (const std::exception& ex) {
    error = Error(ErrorKind::kInternal, cat("loading model '", e.source.name, "': ", ex.what()));
  }
  std::shared_ptr<Loaded> replaced;  // a reload's old model: freed after the lock, if idle
  std::lock_guard<std::mutex> lock(mutex_);
  e.last_load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  e.needed = cost;
  if (!error && options_.budget_bytes > 0 && cost > options_.budget_bytes)
    error = Error(ErrorKind::kOverloaded,
                  cat("model '", e.source.name, "' needs ", mib(cost),
                      "; the memory budget (--memory-budget) is ", mib(options_.budget_bytes)));
  if (!error && !make_room(cost, e))
    error = Error(
        ErrorKind::kOverloaded,
        cat("model '", e.source.name, "' needs ", mib(cost), "; ", mib(bytes_locked()), " of the ",
            mib(options_.budget_bytes), " budget are held by models in use or pinned"));
  if (e.reloading) {
    e.reloading = false;
    if (error) {
      e.reload_error = std::move(error);
      return;  // the old model stays loaded
    }
    replaced = std::move(e.loaded);
    ++e.unloads;
  } else if (error) {
    e.state = ModelState::kFailed;
    e.error = std::move(error);
    return;  // `loaded`, if any, is freed on return, outside any lease
  }
  e.loaded = std::move(loaded);
  e.bytes = cost;
  e.state = ModelState::kLoaded;
  e.last_used = ++clock_;
  ++e.loads;
}

std::vector<ModelStatus> ModelRegistry::list() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ModelStatus> out;
  for (const auto& [name, e] : entries_) {
    ModelStatus s;
    s.name = name;
    s.state = e->state;
    s.pinned = e->source.pinned;
    s.bytes = e->bytes;
    s.leases = e->loaded ? e->loaded.use_count() - 1 : 0;
    s.loads = e->loads;
    s.unloads = e->unloads;
    s.last_load_ms = e->last_load_ms;
    s.needed_bytes = e->needed;
    s.threads = e->loaded ? e->loaded->model.info().threads : e->source.options.threads;
    s.waiting = static_cast<int64_t>(e->parked.size()) + e->blocked;
    if (e->error) s.error = e->error->what();
    out.push_back(std::move(s));
  }
  return out;
}

bool ModelRegistry::knows(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.contains(name);
}

int64_t ModelRegistry::loaded_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_locked();
}

int64_t ModelRegistry::bytes_locked() const {
  int64_t total = 0;
  for (const auto& [_, e] : entries_)
    if (e->state == ModelState::kLoaded) total += e->bytes;
  return total;
}

}  // namespace ember::serve
