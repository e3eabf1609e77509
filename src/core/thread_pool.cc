#include "core/thread_pool.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"

namespace ember {
namespace {

thread_local bool t_inside_job = false;

// std::atomic<uint32_t> is a plain 32-bit word on Linux/x86-64, which is what futex wants.
uint32_t* futex_word(std::atomic<uint32_t>& a) {
  return reinterpret_cast<uint32_t*>(&a);
}
void futex_wait(std::atomic<uint32_t>& a, uint32_t expected) {
  // Returns at once if the word no longer holds `expected`; callers re-check in a loop
  // (EINTR and spurious wake-ups included).
  syscall(SYS_futex, futex_word(a), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake(std::atomic<uint32_t>& a, int count) {
  syscall(SYS_futex, futex_word(a), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

constexpr int64_t kDefaultSpinNs = 200'000;

// Runnable threads on the whole machine, from /proc/loadavg's fourth field ("running/total");
// -1 if it cannot be read.
int runnable_threads() {
  const int fd = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  const ssize_t got = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (got <= 0) return -1;
  buf[got] = '\0';
  const char* p = buf;
  for (int field = 0; field < 3; ++field) {
    p = std::strchr(p, ' ');
    if (p == nullptr) return -1;
    ++p;
  }
  return std::atoi(p);
}

// A spinning thread only pays when it has a core to itself. When more threads are runnable
// than there are CPUs (builds, other services), spinning burns the time slice that the thread
// it waits for needs: MiniLM 1x16 went from 11 ms to 25-33 ms at load 8 on 2 cores. So the
// run queue is sampled every millisecond, and threads sleep at once after two samples in a
// row found it longer than the CPU count. One sample is not enough: the thread that just
// handed Ember a request (a client, a benchmark driver) is often still runnable at the first
// op, and one bad sample used to turn spinning off for a whole small forward (+1 ms at 1x8).
}  // namespace

class ThreadPool::SpinGovernor {
 public:
  explicit SpinGovernor(std::optional<int64_t> spin_us)
      : fixed_ns_(spin_us ? std::max<int64_t>(*spin_us, 0) * 1000 : -1) {}

  int64_t budget_ns() {
    if (fixed_ns_ >= 0) return fixed_ns_;
    const int64_t now = now_ns();
    int64_t next = next_sample_ns_.load(std::memory_order_relaxed);
    if (now >= next &&
        next_sample_ns_.compare_exchange_strong(next, now + kSampleNs, std::memory_order_relaxed)) {
      const int running = runnable_threads();
      const bool crowded = running < 0 || running > cpus_;
      const int n = crowded ? std::min(crowded_samples_.load(std::memory_order_relaxed) + 1, 2) : 0;
      crowded_samples_.store(n, std::memory_order_relaxed);
      allowed_.store(n < 2, std::memory_order_relaxed);
    }
    return allowed_.load(std::memory_order_relaxed) ? kDefaultSpinNs : 0;
  }

 private:
  static constexpr int64_t kSampleNs = 1'000'000;
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  const int64_t fixed_ns_;  // -1: adaptive
  const int cpus_ = hardware_threads();
  std::atomic<int64_t> next_sample_ns_{0};
  std::atomic<int> crowded_samples_{0};  // consecutive samples with a crowded run queue
  std::atomic<bool> allowed_{true};
};

namespace {

// Spins until done() or the budget is spent; returns done(). After the first few
// microseconds every round also yields the CPU: a thread that spins must not keep the thread
// it waits for (or anyone else) off a core it shares with them. With nothing else runnable,
// sched_yield returns at once.
template <typename Done>
bool spin_until(Done done, int64_t budget_ns) {
  if (done()) return true;
  if (budget_ns <= 0) return false;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::nanoseconds(budget_ns);
  const auto yield_from = start + std::chrono::microseconds(5);
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      cpu_relax();
      if (done()) return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    if (now >= yield_from) sched_yield();
  }
}

// Spins, then sleeps until `word` differs from `old`. `sleepers` counts the threads that may be
// in a futex wait on `word`, so that the waker makes the system call only when needed. The
// sequentially consistent increment-then-recheck pairs with the waker's store-then-load of
// `sleepers`: either the waker sees the sleeper, or the sleeper sees the new value.
}  // namespace

uint32_t ThreadPool::wait_while_equal(std::atomic<uint32_t>& word, uint32_t old) {
  uint32_t v = old;
  spin_until([&] { return (v = word.load(std::memory_order_acquire)) != old; }, spin_ns());
  while (v == old) {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (word.load(std::memory_order_seq_cst) == old) futex_wait(word, old);
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    v = word.load(std::memory_order_acquire);
  }
  return v;
}

int64_t ThreadPool::spin_ns() {
  return governor_->budget_ns();
}

bool ThreadPool::inside_job() {
  return t_inside_job;
}

namespace {
int resolved_threads(const ThreadPoolOptions& o) {
  return o.threads > 0 ? o.threads : hardware_threads();
}
}  // namespace

ThreadPool::ThreadPool(const ThreadPoolOptions& options)
    : governor_(std::make_unique<SpinGovernor>(options.spin_us)),
      placement_(resolved_threads(options) - 1, options.worker_affinity) {
  const int threads = resolved_threads(options);
  EMBER_CHECK(threads <= 1024, ErrorKind::kInvalidInput, "thread count ", threads,
              " is above 1024");
  workers_.reserve(static_cast<size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(dispatch_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(generation_, INT_MAX);
  }
  for (auto& w : workers_) w.join();
}

void ThreadPool::worker_main(int index) {
  t_inside_job = true;  // a worker's nested parallel_for runs inline
  uint32_t seen = 0;
  for (;;) {
    seen = wait_while_equal(generation_, seen);
    if (stop_) return;
    try {
      job_(ctx_, index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (remaining_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        caller_sleeping_.load(std::memory_order_seq_cst) != 0)
      futex_wake(remaining_, 1);
  }
}

void ThreadPool::run_inline(Job job, void* ctx) {
  for (int i = 0; i < size(); ++i) job(ctx, i);
}

void ThreadPool::run(Job job, void* ctx) {
  if (workers_.empty() || t_inside_job) return run_inline(job, ctx);
  std::unique_lock<std::mutex> lock(dispatch_, std::try_to_lock);
  // Another thread's job holds the workers: run this one on the caller alone.
  if (!lock.owns_lock()) return run_inline(job, ctx);

  job_ = job;
  ctx_ = ctx;
  error_ = nullptr;
  remaining_.store(static_cast<uint32_t>(workers_.size()), std::memory_order_relaxed);
  placement_.keep_off_caller(workers_);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0) futex_wake(generation_, INT_MAX);

  std::exception_ptr caller_error;
  t_inside_job = true;
  try {
    job(ctx, 0);
  } catch (...) {
    caller_error = std::current_exception();
  }
  t_inside_job = false;

  // The workers read ctx (the caller's stack): wait for every one of them.
  if (!spin_until([&] { return remaining_.load(std::memory_order_acquire) == 0; }, spin_ns())) {
    caller_sleeping_.store(1, std::memory_order_seq_cst);
    uint32_t left;
    while ((left = remaining_.load(std::memory_order_seq_cst)) != 0) futex_wait(remaining_, left);
    caller_sleeping_.store(0, std::memory_order_relaxed);
  }
  if (caller_error) std::rethrow_exception(caller_error);
  if (error_) std::rethrow_exception(error_);
}

namespace {

// Pools are kept for the life of the process, one per size asked for: set_num_threads
// switches to another without stopping a pool that a concurrent job may still be using.
struct PoolSet {
  std::mutex mutex;
  std::vector<std::unique_ptr<ThreadPool>> pools;
  std::atomic<ThreadPool*> current{nullptr};

  ThreadPool& get(int threads) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& p : pools)
      if (p->size() == threads) return *p;
    pools.push_back(std::make_unique<ThreadPool>(threads));
    return *pools.back();
  }
};
PoolSet& pool_set() {
  static PoolSet set;
  return set;
}

}  // namespace

int hardware_threads() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

static thread_local ThreadPool* t_scoped_pool = nullptr;

PoolScope::PoolScope(ThreadPool& pool) : previous_(t_scoped_pool) {
  t_scoped_pool = &pool;
}
PoolScope::~PoolScope() {
  t_scoped_pool = previous_;
}

ThreadPool& compute_pool() {
  if (t_scoped_pool != nullptr) return *t_scoped_pool;
  PoolSet& set = pool_set();
  ThreadPool* p = set.current.load(std::memory_order_acquire);
  if (p != nullptr) return *p;
  ThreadPool& fresh = set.get(hardware_threads());
  ThreadPool* expected = nullptr;
  set.current.compare_exchange_strong(expected, &fresh, std::memory_order_acq_rel);
  return *set.current.load(std::memory_order_acquire);
}

void use_compute_pool(int threads) {
  PoolSet& set = pool_set();
  set.current.store(&set.get(threads > 0 ? threads : hardware_threads()),
                    std::memory_order_release);
}

}  // namespace ember
