// Keeps a pool's workers off the CPU of the thread that hands them a job.
//
// Why: a scheduler may wake a sleeping worker on the waker's CPU (wake-affine placement) and
// leave both there for the whole job. The Firecracker guests this project runs on pack vCPUs
// on purpose (kernel option sched_vcpu_pack): after 5-50 ms idle, a woken worker shared the
// caller's CPU and MiniLM 1x8 took 5.5-6.5 ms instead of 3.3-3.7 (docs/performance.md,
// "Worker placement"). Restricting the workers to "every allowed CPU but the caller's" costs
// one sched_getcpu per job and an affinity call only when the caller's CPU changes.
#pragma once

#include <sched.h>

#include <thread>
#include <vector>

namespace ember {

class WorkerPlacement {
 public:
  // Reads the CPUs this process may run on. Active only when `enabled` and the workers fit on
  // the CPUs left beside the caller's (workers <= allowed CPUs - 1).
  WorkerPlacement(int workers, bool enabled);

  bool active() const { return active_; }

  // Called by the dispatching thread (one at a time) before it wakes the workers.
  void keep_off_caller(std::vector<std::thread>& workers);

  // The CPU the workers were last kept off (-1: none yet, or inactive).
  int caller_cpu() const { return last_cpu_; }

 private:
  cpu_set_t allowed_;
  bool active_ = false;
  int last_cpu_ = -1;
};

}  // namespace ember
