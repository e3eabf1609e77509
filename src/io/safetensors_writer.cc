#include "io/safetensors_writer.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace ember::io {

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> order;
  std::set<std::string> names;
  for (const auto& t : tensors) {
    EMBER_CHECK(names.insert(t.name).second, ErrorKind::kInvalidInput,
                "write_safetensors: duplicate tensor '", t.name, "'");
    order.push_back(&t);
  }
  // No gaps between tensors (the safetensors library rejects them): wider dtypes first, so
  // that every F32 tensor stays 4-byte aligned when the data section starts 64-byte aligned.
  std::sort(order.begin(), order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    const size_t sa = dtype_size(a->tensor.dtype), sb = dtype_size(b->tensor.dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  constexpr size_t kAlign = 64;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) header["__metadata__"][k] = v;
  }
  size_t offset = 0;
  for (const auto* t : order) {
    std::vector<int64_t> shape;
    for (int i = 0; i < t->tensor.shape.rank(); ++i) shape.push_back(t->tensor.shape[i]);
    header[t->name] = {{"dtype", std::string(dtype_name(t->tensor.dtype))},
                       {"shape", shape},
                       {"data_offsets", {offset, offset + t->tensor.nbytes()}}};
    offset += t->tensor.nbytes();
  }
  std::string text = header.dump();
  // Pad the header with spaces (allowed by the format) so that the data starts 64-byte aligned.
  const size_t data_start = (8 + text.size() + kAlign - 1) / kAlign * kAlign;
  text.append(data_start - 8 - text.size(), ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  EMBER_CHECK(out.good(), ErrorKind::kInternal, path.string(), ": cannot open for writing");
  uint64_t len = text.size();
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  out.write(reinterpret_cast<const char*>(len_bytes), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto* t : order)
    out.write(static_cast<const char*>(t->tensor.data),
              static_cast<std::streamsize>(t->tensor.nbytes()));
  out.flush();
  EMBER_CHECK(out.good(), ErrorKind::kInternal, path.string(), ": write failed");
}

}  // namespace ember::io
