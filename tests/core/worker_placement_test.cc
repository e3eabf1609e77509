// WorkerPlacement through a real pool: workers are kept off the CPU of the thread that hands
// them a job (so a scheduler cannot stack them onto it), follow that thread when it moves, and
// are left alone when asked or when they would not fit beside it.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <cstdlib>
#include <vector>

#include "core/thread_pool.h"

namespace ember {
namespace {

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// Pins the calling thread to one CPU for the scope, then restores its mask.
class PinCaller {
 public:
  explicit PinCaller(int cpu) {
    pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ok_ = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0 && sched_getcpu() == cpu;
  }
  ~PinCaller() { pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_); }
  bool ok() const { return ok_; }

 private:
  cpu_set_t saved_;
  bool ok_ = false;
};

// What worker 1 saw during one job: its own affinity mask and the CPU it ran on.
struct WorkerView {
  cpu_set_t mask;
  int cpu = -1;
};

WorkerView run_and_look(ThreadPool& pool) {
  WorkerView v;
  CPU_ZERO(&v.mask);
  pool.run(
      [](void* ctx, int i) {
        if (i != 1) return;
        auto* view = static_cast<WorkerView*>(ctx);
        pthread_getaffinity_np(pthread_self(), sizeof(view->mask), &view->mask);
        view->cpu = sched_getcpu();
      },
      &v);
  return v;
}

TEST(WorkerPlacement, WorkersStayOffTheCallersCpuAndFollowItWhenItMoves) {
  const auto cpus = allowed_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs, this process may use " << cpus.size();
  ThreadPool pool(2);
  ASSERT_TRUE(pool.placement().active());
  for (int rep = 0; rep < 2; ++rep) {
    for (const int caller : {cpus[0], cpus[1]}) {
      PinCaller pin(caller);
      ASSERT_TRUE(pin.ok());
      const WorkerView v = run_and_look(pool);
      EXPECT_EQ(pool.placement().caller_cpu(), caller);
      EXPECT_FALSE(CPU_ISSET(caller, &v.mask)) << "worker may run on the caller's CPU " << caller;
      EXPECT_NE(v.cpu, caller);
      for (const int other : cpus) {
        if (other == caller) continue;
        EXPECT_TRUE(CPU_ISSET(other, &v.mask)) << "CPU " << other;
      }
    }
  }
}

TEST(WorkerPlacement, OffWhenDisabledOrWhenWorkersDoNotFitBesideTheCaller) {
  const auto cpus = allowed_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs, this process may use " << cpus.size();
  {
    ThreadPool crowded(static_cast<int>(cpus.size()) + 1);  // workers == CPUs: no room
    EXPECT_FALSE(crowded.placement().active());
    const WorkerView v = run_and_look(crowded);
    EXPECT_EQ(CPU_COUNT(&v.mask), static_cast<int>(cpus.size()));
  }
  ThreadPoolOptions options;
  options.threads = 2;
  options.worker_affinity = false;
  ThreadPool off(options);
  EXPECT_FALSE(off.placement().active());
  PinCaller pin(cpus[0]);
  ASSERT_TRUE(pin.ok());
  const WorkerView v = run_and_look(off);
  EXPECT_TRUE(CPU_ISSET(cpus[0], &v.mask));
  EXPECT_EQ(off.placement().caller_cpu(), -1);
}

}  // namespace
}  // namespace ember
