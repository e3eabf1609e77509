// oneDNN (the OpenMP build Debian ships) runs on the thread that calls it: Ember threads the
// work itself (ops/*), splitting it into one oneDNN call per pool thread, so a oneDNN call
// must never start an OpenMP team of its own. Sets this thread's OpenMP thread count to 1
// (checked on every call, since the thread's owner may set it back); the one place Ember
// touches OpenMP.
#pragma once

#include <omp.h>

namespace ember::kernels {

inline void dnnl_on_calling_thread() {
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

}  // namespace ember::kernels
