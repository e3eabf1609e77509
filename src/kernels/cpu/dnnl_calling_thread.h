// oneDNN (the OpenMP build Debian ships) runs on the thread that calls it: Ember threads the
// work itself (ops/*), splitting it into one oneDNN call per pool thread, so a oneDNN call
// must never start an OpenMP team of its own. Sets this thread's OpenMP thread count to 1
// (checked on every call, since the thread's owner may set it back); the one place Ember
// touches OpenMP.
//
// The first call also caps oneDNN's instruction set at Ember's active one (EMBER_ISA=avx2 on
// an AVX-512 machine then runs oneDNN's AVX2 code too, as on an AVX2-only CPU). oneDNN takes
// the cap only before it generates its first kernel, which this first call precedes.
#pragma once

#include <dnnl.h>
#include <omp.h>

#include "core/cpu_features.h"

namespace ember::kernels {

inline bool dnnl_cap_isa_once() {
  if (active_isa() == Isa::kAvx2 && detected_isa() == Isa::kAvx512)
    dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2);  // an error here (too late) leaves it uncapped
  return true;
}

inline void dnnl_on_calling_thread() {
  static const bool capped = dnnl_cap_isa_once();
  (void)capped;
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

}  // namespace ember::kernels
