// libFuzzer: parse_keras_h5 (tf_model.h5 through the HDF5 C API, as an in-memory file image)
// on arbitrary bytes. Only ember::Error may escape; every tensor read is touched end to end.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/keras_h5.h"

// libhdf5 itself (not instrumented) leaks small blocks on some malformed files it refuses; those
// are its own, not Ember's, and would otherwise end every run.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libhdf5_serial.so\n";
}

// libhdf5 also asks malloc for sizes read from corrupt headers, from tens of GB to exabytes,
// which it never touches: a release `ember embed` on such a file stays at 25 MB of RSS and
// exits with invalid_input (malloc failing or the read failing becomes an HDF5 error). Under
// ASan those reservations cost shadow memory and trip the fuzzer's limits, so allocations over
// 2 GB fail here, returning null as malloc may; HDF5 must then report an error, not crash.
extern "C" const char* __asan_default_options() {
  return "allocator_may_return_null=1:max_allocation_size_mb=2048";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto store = ember::io::parse_keras_h5({data, size}, "fuzz.h5");
    float sum = 0;
    for (const auto& name : store.names()) {
      const auto t = store.get(name);
      if (t.numel() > 0) sum += t.f32()[0] + t.f32()[t.numel() - 1];
    }
    volatile float sink = sum;
    (void)sink;
  } catch (const ember::Error&) {
  }
  return 0;
}
