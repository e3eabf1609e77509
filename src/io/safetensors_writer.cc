#include "io/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "core/error.h"

namespace ember::io {
namespace {

[[noreturn]] void fail_write(const std::filesystem::path& path, const char* what, int e) {
  fail(ErrorKind::kUnavailable, path.string(), ": ", what, ": ",
       std::generic_category().message(e));
}

// write(2) until every byte is out: it may write less than asked, and a signal may interrupt it.
// A full disk or a file-size limit (with SIGXFSZ ignored) ends it with that error.
void write_all(int fd, const std::filesystem::path& path, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail_write(path, "write failed", w < 0 ? errno : ENOSPC);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

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

  // A new file only (O_EXCL, O_NOFOLLOW): truncating an existing path would write through a
  // hard or symbolic link into whatever file it shares (ModelDirWriter stages into a fresh
  // directory, so this never refuses there).
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) fail_write(path, "cannot create", errno);
  uint64_t len = text.size();
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  try {
    write_all(fd, path, len_bytes, 8);
    write_all(fd, path, text.data(), text.size());
    for (const auto* t : order) write_all(fd, path, t->tensor.data, t->tensor.nbytes());
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail_write(path, "write failed", errno);
}

}  // namespace ember::io
