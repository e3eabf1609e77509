// The compute threads: a persistent pool whose workers spin briefly, then sleep, between
// jobs. A forward pass of a small encoder is ~50 parallel ops of 10-100 us each; a pool that
// sleeps after every op (OpenMP's passive policy) pays a futex wake-up per op (30-50 us in a
// VM), and one that spins forever (OpenMP's active policy) burns a core while idle and starves
// whatever else runs. Spinning for a bounded time bridges the gaps inside a forward and gives
// the core back between forwards.
//
// Workers are kept off the dispatching thread's CPU (core/worker_placement.h): a scheduler that
// wakes a sleeping worker on the waker's CPU would otherwise run the whole job on one CPU.
//
// The calling thread takes part as thread 0. A job submitted from inside a job, or while
// another thread's job holds the pool, runs inline on the caller (never deadlocks, never
// oversubscribes).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/worker_placement.h"

namespace ember {

struct ThreadPoolOptions {
  int threads = 0;  // <= 0: all online CPUs
  // How long a waiting thread spins before it sleeps. Unset: up to 200 us while the machine's
  // run queue fits its CPUs, 0 while it does not (SpinGovernor in thread_pool.cc). 0: never
  // spin. N: always spin N us (a machine dedicated to this process).
  std::optional<int64_t> spin_us;
  // Keep the workers off the dispatching thread's CPU (core/worker_placement.h).
  bool worker_affinity = true;
};

class ThreadPool {
 public:
  // Each thread gets fn(ctx, thread_index) with thread_index in [0, size()).
  using Job = void (*)(void* ctx, int thread_index);

  explicit ThreadPool(const ThreadPoolOptions& options);
  explicit ThreadPool(int threads) : ThreadPool(ThreadPoolOptions{threads, {}, true}) {}
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs job(ctx, i) for every i in [0, size()) and returns once all have returned. The
  // first exception thrown by any of them is rethrown here (after all have finished).
  void run(Job job, void* ctx);

  // How long a waiting thread of this pool spins before it sleeps now (ThreadPoolOptions).
  int64_t spin_ns();

  // True on a pool worker and on a caller while its job runs.
  static bool inside_job();

  // Where the workers are kept (core/worker_placement.h).
  const WorkerPlacement& placement() const { return placement_; }

 private:
  class SpinGovernor;
  void worker_main(int index);
  void run_inline(Job job, void* ctx);
  uint32_t wait_while_equal(std::atomic<uint32_t>& word, uint32_t old);

  std::unique_ptr<SpinGovernor> governor_;
  std::vector<std::thread> workers_;
  std::mutex dispatch_;        // one job at a time; try_lock failure -> run inline
  WorkerPlacement placement_;  // used under dispatch_

  // Job hand-off. generation_ counts jobs; workers wait for it to change.
  alignas(64) std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> sleepers_{0};  // workers in (or entering) a futex wait on generation_
  Job job_ = nullptr;
  void* ctx_ = nullptr;
  bool stop_ = false;

  // Completion: workers still running the current job; the caller waits for 0.
  alignas(64) std::atomic<uint32_t> remaining_{0};
  std::atomic<uint32_t> caller_sleeping_{0};

  std::mutex error_mutex_;
  std::exception_ptr error_;
};

// The pool parallel_for uses on this thread: the one a PoolScope installed, else the
// process's default pool (all online CPUs until use_compute_pool; tests and benchmarks that
// call kernels directly use it). Engines install their own pool around every run, so that two
// engines compute side by side without sharing or resizing each other's threads.
ThreadPool& compute_pool();
// Makes the default pool one of `threads` threads (<= 0: all online CPUs). Earlier pools stay
// alive, asleep, so that a job still running on one is not cut short.
void use_compute_pool(int threads);
int hardware_threads();

// Installs `pool` as this thread's compute pool for the scope's lifetime (scopes nest).
class PoolScope {
 public:
  explicit PoolScope(ThreadPool& pool);
  ~PoolScope();
  PoolScope(const PoolScope&) = delete;
  PoolScope& operator=(const PoolScope&) = delete;

 private:
  ThreadPool* previous_;
};

}  // namespace ember
