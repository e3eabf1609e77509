#include "core/worker_placement.h"

#include <pthread.h>

namespace ember {
WorkerPlacement::WorkerPlacement(int workers, bool enabled) {
  CPU_ZERO(&allowed_);
  if (workers < 1 || !enabled) return;
  if (sched_getaffinity(0, sizeof(allowed_), &allowed_) != 0) return;
  active_ = CPU_COUNT(&allowed_) - 1 >= workers;
}

void WorkerPlacement::keep_off_caller(std::vector<std::thread>& workers) {
  if (!active_) return;
  const int cpu = sched_getcpu();
  if (cpu < 0 || cpu == last_cpu_ || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed_)) return;
  cpu_set_t set = allowed_;
  CPU_CLR(cpu, &set);
  for (auto& w : workers) {
    // A failure (a cgroup that shrank the CPU set meanwhile) leaves the worker where it was:
    // placement is a speed matter, never a correctness one.
    pthread_setaffinity_np(w.native_handle(), sizeof(set), &set);
  }
  last_cpu_ = cpu;
}

}  // namespace ember
