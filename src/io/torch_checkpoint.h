// pytorch_model.bin as torch.save (>= 1.6) writes it: a zip archive holding <name>/data.pkl (the
// state dict's pickle, read by parse_torch_pickle: nothing in it is executed) and one member
// <name>/data/<key> per storage. Stored (uncompressed) members, which torch.save writes
// 64-byte aligned, are used in place in a read-only mmap; compressed ones are inflated into
// owned memory. Every storage member must hold exactly the bytes its pickle declares and lie
// inside the file. Errors name the file and the member or tensor: kInvalidInput for a corrupt
// or truncated archive, kUnsupported for the legacy (pre-zip) format, big-endian data, or a
// refused pickle global.
#pragma once

#include <filesystem>

#include "io/weight_store.h"

namespace ember::io {

WeightStore load_torch_checkpoint(const std::filesystem::path& path);

}  // namespace ember::io
