#include "io/torch_checkpoint.h"

#include <unzip.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/dims.h"
#include "io/mapped_file.h"
#include "io/torch_pickle.h"

namespace ember::io {
namespace {

// The pickle is a few KB per thousand tensors; a larger one is not a state dict.
constexpr uint64_t kMaxPickleBytes = 256ull << 20;

struct ZipCloser {
  unzFile zip;
  ~ZipCloser() { unzClose(zip); }
};

struct Member {
  uint64_t size = 0;           // uncompressed
  uint64_t stored_offset = 0;  // where its bytes start in the file, when stored
  bool stored = false;
};

class Archive {
 public:
  Archive(unzFile zip, std::span<const uint8_t> file, std::string origin)
      : zip_(zip), file_(file), origin_(std::move(origin)) {}

  std::vector<std::string> names() {
    std::vector<std::string> out;
    std::vector<char> name(65536);
    int rc = unzGoToFirstFile(zip_);
    for (; rc == UNZ_OK; rc = unzGoToNextFile(zip_)) {
      unz_file_info64 info{};
      if (unzGetCurrentFileInfo64(zip_, &info, name.data(), name.size(), nullptr, 0, nullptr, 0) !=
          UNZ_OK)
        fail(ErrorKind::kInvalidInput, origin_, ": corrupt zip directory entry");
      out.emplace_back(name.data());
    }
    if (rc != UNZ_END_OF_LIST_OF_FILE)
      fail(ErrorKind::kInvalidInput, origin_, ": corrupt zip directory");
    return out;
  }

  // Opens `name` and says where its bytes are; the member stays open for read().
  Member open(const std::string& name) {
    if (unzLocateFile(zip_, name.c_str(), 1) != UNZ_OK)
      fail(ErrorKind::kInvalidInput, origin_, ": missing archive member '", name, "'");
    unz_file_info64 info{};
    if (unzGetCurrentFileInfo64(zip_, &info, nullptr, 0, nullptr, 0, nullptr, 0) != UNZ_OK)
      fail(ErrorKind::kInvalidInput, origin_, ": member '", name, "': corrupt entry");
    if ((info.flag & 1) != 0)
      fail(ErrorKind::kUnsupported, origin_, ": member '", name, "' is encrypted");
    if (unzOpenCurrentFile(zip_) != UNZ_OK)
      fail(ErrorKind::kInvalidInput, origin_, ": member '", name,
           "': cannot be opened (corrupt "
           "local header or unsupported compression)");
    Member m;
    m.size = info.uncompressed_size;
    if (info.compression_method == 0) {
      m.stored = true;
      m.stored_offset = unzGetCurrentFileZStreamPos64(zip_);
      if (info.compressed_size != info.uncompressed_size || m.stored_offset > file_.size() ||
          m.size > file_.size() - m.stored_offset)
        fail(ErrorKind::kInvalidInput, origin_, ": member '", name, "' of ", m.size,
             " bytes at offset ", m.stored_offset, " runs past the end of the file (", file_.size(),
             " bytes)");
    }
    return m;
  }

  // Inflates the open member (of m.size bytes) into owned memory, checking its CRC.
  std::shared_ptr<std::vector<uint8_t>> read(const std::string& name, const Member& m) {
    // Deflate expands at most ~1032:1; a declared size beyond that is a lie.
    if (m.size / 1032 > file_.size())
      fail(ErrorKind::kInvalidInput, origin_, ": member '", name, "' declares ", m.size,
           " bytes, more than the file could inflate to");
    auto out = std::make_shared<std::vector<uint8_t>>(m.size);
    uint64_t done = 0;
    while (done < m.size) {
      const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(m.size - done, 1u << 30));
      const int n = unzReadCurrentFile(zip_, out->data() + done, chunk);
      if (n <= 0)
        fail(ErrorKind::kInvalidInput, origin_, ": member '", name, "' is truncated or corrupt");
      done += static_cast<uint64_t>(n);
    }
    if (unzCloseCurrentFile(zip_) != UNZ_OK)
      fail(ErrorKind::kInvalidInput, origin_, ": member '", name, "' fails its CRC check");
    return out;
  }

 private:
  unzFile zip_;
  std::span<const uint8_t> file_;
  std::string origin_;
};

}  // namespace

WeightStore load_torch_checkpoint(const std::filesystem::path& path) {
  auto file = std::make_shared<MappedFile>(MappedFile::open(path));
  const std::span<const uint8_t> bytes = file->bytes();
  const std::string origin = path.string();
  if (!bytes.empty() && bytes[0] == 0x80)
    fail(ErrorKind::kUnsupported, origin,
         ": legacy torch.save format (a bare pickle, before PyTorch 1.6); re-save it with a "
         "current PyTorch or as safetensors");
  unzFile zip = unzOpen64(origin.c_str());
  if (zip == nullptr)
    fail(ErrorKind::kInvalidInput, origin,
         ": not a readable zip archive (truncated, or not written by torch.save)");
  ZipCloser closer{zip};
  Archive archive(zip, bytes, origin);

  // <name>/data.pkl names the archive's one record directory.
  std::string prefix;
  int pickles = 0;
  const std::vector<std::string> names = archive.names();
  for (const std::string& name : names) {
    const std::string tail = "data.pkl";
    if (name.size() >= tail.size() &&
        name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
        (name.size() == tail.size() || name[name.size() - tail.size() - 1] == '/')) {
      prefix = name.substr(0, name.size() - tail.size());
      ++pickles;
    }
  }
  if (pickles != 1)
    fail(ErrorKind::kInvalidInput, origin, ": expected one data.pkl in the archive, found ",
         pickles);

  // PyTorch before 1.10 wrote no byteorder record, and only little-endian data.
  if (std::find(names.begin(), names.end(), prefix + "byteorder") != names.end()) {
    const Member m = archive.open(prefix + "byteorder");
    const auto order = archive.read(prefix + "byteorder", m);
    if (std::string(order->begin(), order->end()) != "little")
      fail(ErrorKind::kUnsupported, origin, ": big-endian checkpoint");
  }

  const Member pkl = archive.open(prefix + "data.pkl");
  if (pkl.size > kMaxPickleBytes)
    fail(ErrorKind::kInvalidInput, origin, ": data.pkl of ", pkl.size, " bytes is too large");
  const auto pickle_bytes = archive.read(prefix + "data.pkl", pkl);
  const TorchPickle pickle = parse_torch_pickle(*pickle_bytes, origin + ": data.pkl");

  WeightStore store;
  store.set_origin(origin);
  store.keep_mapping(file);
  std::map<std::string, const uint8_t*> storage_data;
  for (const auto& [key, storage] : pickle.storages) {
    const std::string name = prefix + "data/" + key;
    const Member m = archive.open(name);
    const uint64_t want = static_cast<uint64_t>(storage.numel) * dtype_size(storage.dtype);
    if (static_cast<uint64_t>(storage.numel) > UINT64_MAX / dtype_size(storage.dtype) ||
        m.size != want)
      fail(ErrorKind::kInvalidInput, origin, ": storage '", key, "' has ", m.size,
           " bytes, but the pickle declares ", storage.numel, " elements of ",
           dtype_name(storage.dtype));
    if (m.stored) {
      storage_data[key] = bytes.data() + m.stored_offset;
    } else {
      auto owned = archive.read(name, m);
      storage_data[key] = owned->data();
      store.keep_alive(owned);
    }
  }
  for (const auto& [name, rec] : pickle.tensors) {
    Tensor t;
    t.dtype = rec.dtype;
    t.shape = shape_from_dims(rec.shape);
    t.data = storage_data.at(rec.storage_key) +
             static_cast<size_t>(rec.storage_offset) * dtype_size(rec.dtype);
    store.add_tensor(name, t);
  }
  return store;
}

}  // namespace ember::io
