// The ember executable's OpenMP default: OMP_WAIT_POLICY=passive unless the user set
// OMP_WAIT_POLICY or GOMP_SPINCOUNT. libgomp's default lets a thread spin for 300k
// iterations at every barrier before it sleeps; on a machine whose cores are shared
// (oversubscribed: load above the core count), a spinning thread burns the time slice its
// partner needs, and each of the ~30 parallel regions of a MiniLM forward then waits for a
// scheduler slice: MiniLM 1x16 took 700-1400 ms (p50) at load 13 on 2 cores, against 8 ms
// passive (docs/performance.md, "Wait policy"). Set OMP_WAIT_POLICY=active for a dedicated
// machine, where spinning saves a futex wake-up per parallel region.
//
// libgomp reads its environment once, in its own initialiser, before this executable's
// constructors run; so the constructor sets the variable and re-executes the binary (same
// pid, same arguments) once. If the exec fails, ember runs on with libgomp's default.
#include <unistd.h>

#include <cstdlib>

namespace {

__attribute__((constructor)) void set_omp_wait_policy_default(int /*argc*/, char** argv,
                                                              char** /*envp*/) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (argv == nullptr || argv[0] == nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);
}

}  // namespace
