// libFuzzer: SafetensorsFile::parse on arbitrary bytes. Only ember::Error may escape the
// parser; every tensor view it returns must lie inside the input (ASan checks the reads).
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto st = ember::io::SafetensorsFile::parse({data, size}, "fuzz.safetensors");
    uint8_t sum = 0;
    for (const auto& [name, t] : st.tensors()) {
      const size_t n = t.nbytes();
      if (n == 0) continue;
      const auto* p = static_cast<const uint8_t*>(t.data);
      sum = static_cast<uint8_t>(sum + p[0] + p[n - 1]);
    }
    for (const auto& [key, value] : st.metadata()) sum = static_cast<uint8_t>(sum + key.size());
    volatile uint8_t sink = sum;
    (void)sink;
  } catch (const ember::Error&) {
  }
  return 0;
}
