// libFuzzer: parse_keras_h5 (tf_model.h5 through the HDF5 C API, as an in-memory file image)
// on arbitrary bytes. Only ember::Error may escape; every tensor read is touched end to end.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/keras_h5.h"

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
