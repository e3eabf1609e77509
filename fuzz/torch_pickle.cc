// libFuzzer: parse_torch_pickle (the restricted interpreter of pytorch_model.bin's data.pkl) on
// arbitrary bytes. Only ember::Error may escape; every tensor it returns must lie inside the
// storage it names (the interpreter's bounds check, asserted here).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "io/torch_pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto p = ember::io::parse_torch_pickle({data, size}, "fuzz.pkl");
    for (const auto& [name, t] : p.tensors) {
      const auto it = p.storages.find(t.storage_key);
      if (it == p.storages.end()) std::abort();
      int64_t numel = 1;
      for (int64_t d : t.shape) numel *= d;
      if (numel > 0 && t.storage_offset + numel > it->second.numel) std::abort();
    }
  } catch (const ember::Error&) {
  }
  return 0;
}
