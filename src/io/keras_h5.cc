#include "io/keras_h5.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "io/dims.h"

namespace ember::io {
namespace {

// Debian's libhdf5 is not built thread-safe: one loader in the library at a time.
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

// Closes an HDF5 handle on every path out.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

struct Visit {
  hid_t file;
  const std::string* origin;
  WeightStore* store;
  std::string error;  // set when a dataset is refused; the visit stops there
  ErrorKind kind = ErrorKind::kInvalidInput;
  int64_t objects = 0;
};

// A Keras checkpoint nests a few groups deep (model / layer / sublayer / weight) and holds a
// few thousand objects. A corrupt file can describe a group tree that never ends (a B-tree node
// that leads back into itself under a new path); libhdf5 follows it for as long as the callback
// lets it, so the visit stops at these bounds.
constexpr int64_t kMaxObjects = 100'000;
constexpr size_t kMaxDepth = 64;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t end = s.find(sep, begin);
    parts.push_back(s.substr(begin, end - begin));
    if (end == std::string::npos) return parts;
    begin = end + 1;
  }
}

// Reads one dataset into the store under its PyTorch name.
void read_dataset(Visit& v, const std::string& path) {
  const std::string& origin = *v.origin;
  // The weight name is the dataset's path below its layer group.
  const size_t slash = path.find('/');
  if (slash == std::string::npos)
    fail(ErrorKind::kInvalidInput, origin, ": dataset '", path, "' is not inside a layer group");
  bool transpose = false;
  const std::string name = keras_to_torch_name(path.substr(slash + 1), transpose);

  Handle ds{H5Dopen2(v.file, path.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) fail(ErrorKind::kInvalidInput, origin, ": dataset '", path, "' cannot be opened");
  Handle type{H5Dget_type(ds.id), H5Tclose};
  if (type.id < 0 || H5Tget_class(type.id) != H5T_FLOAT)
    fail(ErrorKind::kUnsupported, origin, ": dataset '", path, "' is not floating-point");
  const size_t type_size = H5Tget_size(type.id);
  Handle space{H5Dget_space(ds.id), H5Sclose};
  if (space.id < 0 || H5Sis_simple(space.id) <= 0)
    fail(ErrorKind::kInvalidInput, origin, ": dataset '", path, "' has no simple dataspace");
  const int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank < 0 || rank > Shape::kMaxRank)
    fail(ErrorKind::kUnsupported, origin, ": dataset '", path, "' has rank ", rank, " (at most ",
         Shape::kMaxRank, ")");
  hsize_t hdims[Shape::kMaxRank] = {};
  if (H5Sget_simple_extent_dims(space.id, hdims, nullptr) != rank)
    fail(ErrorKind::kInvalidInput, origin, ": dataset '", path, "': unreadable dimensions");
  std::vector<int64_t> dims;
  uint64_t numel = 1;
  for (int k = 0; k < rank; ++k) {
    if (hdims[k] > static_cast<hsize_t>(INT64_MAX) ||
        __builtin_mul_overflow(numel, static_cast<uint64_t>(hdims[k]), &numel))
      fail(ErrorKind::kInvalidInput, origin, ": dataset '", path, "': size overflows");
    dims.push_back(static_cast<int64_t>(hdims[k]));
  }
  // The file must hold the data: no allocation larger than what the file stores.
  uint64_t need = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(type_size), &need) ||
      H5Dget_storage_size(ds.id) < need)
    fail(ErrorKind::kInvalidInput, origin, ": dataset '", path, "' declares ", numel,
         " elements but the file stores ", H5Dget_storage_size(ds.id), " bytes for it");
  if (transpose && rank != 2)
    fail(ErrorKind::kUnsupported, origin, ": kernel '", path, "' has rank ", rank, ", not 2");

  AlignedBuffer<float> data(numel == 0 ? 1 : static_cast<size_t>(numel));
  if (numel > 0 && H5Dread(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
    fail(ErrorKind::kInvalidInput, origin, ": dataset '", path, "' cannot be read");
  if (transpose) {
    const size_t rows = static_cast<size_t>(dims[0]), cols = static_cast<size_t>(dims[1]);
    AlignedBuffer<float> t(numel == 0 ? 1 : static_cast<size_t>(numel));
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c) t[c * rows + r] = data[r * cols + c];
    data = std::move(t);
    std::swap(dims[0], dims[1]);
  }
  if (v.store->has(name))
    fail(ErrorKind::kInvalidInput, origin, ": two datasets map to tensor '", name, "'");
  v.store->add_owned(name, shape_from_dims(dims), std::move(data));
}

herr_t visit_object(hid_t, const char* name, const H5O_info_t* info, void* data) {
  auto& v = *static_cast<Visit*>(data);
  const size_t depth = static_cast<size_t>(std::count(name, name + std::strlen(name), '/'));
  if (++v.objects > kMaxObjects || depth > kMaxDepth) {
    v.error = *v.origin + ": the HDF5 group tree is deeper than " + std::to_string(kMaxDepth) +
              " or holds more than " + std::to_string(kMaxObjects) + " objects (corrupt file?)";
    return -1;
  }
  if (info->type != H5O_TYPE_DATASET) return 0;
  try {
    read_dataset(v, name);
  } catch (const Error& e) {
    v.error = e.what();
    v.kind = e.kind();
    return -1;
  }
  return 0;
}

WeightStore read_file(hid_t file, const std::string& origin) {
  WeightStore store;
  store.set_origin(origin);
  Visit v{file, &origin, &store, {}, ErrorKind::kInvalidInput};
  const herr_t rc = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, visit_object, &v, H5O_INFO_BASIC);
  if (!v.error.empty()) throw Error(v.kind, v.error);
  if (rc < 0) fail(ErrorKind::kInvalidInput, origin, ": corrupt HDF5 object tree");
  if (store.names().empty()) fail(ErrorKind::kInvalidInput, origin, ": no weights in the file");
  return store;
}

}  // namespace

std::string keras_to_torch_name(const std::string& keras_name, bool& transpose) {
  std::string_view in = keras_name;
  if (in.size() >= 2 && in.substr(in.size() - 2) == ":0") in.remove_suffix(2);
  std::string n;
  for (size_t k = 0; k < in.size(); ++k) {
    if (in.substr(k, 3) == "_._") {
      n += '/';
      k += 2;
    } else {
      n += in[k];
    }
  }
  std::vector<std::string> parts;
  for (std::string& part : split(n, '/'))
    if (!part.empty()) parts.push_back(std::move(part));
  if (parts.size() < 2)
    fail(ErrorKind::kInvalidInput, "Keras weight name '", keras_name,
         "' has no model scope and weight name");
  parts.erase(parts.begin());  // the model-level scope ("tf_bert_model")
  std::string& last = parts.back();
  transpose = last == "kernel";
  if (last == "kernel" || last == "gamma" || last == "embeddings") last = "weight";
  if (last == "beta") last = "bias";
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : ".") + part;
  return out;
}

WeightStore load_keras_h5(const std::filesystem::path& path) {
  const std::string origin = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail(ErrorKind::kNotFound, origin, ": no such file");
  std::lock_guard lock(hdf5_mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors come back as values, not printed
  if (H5Fis_hdf5(origin.c_str()) <= 0) fail(ErrorKind::kInvalidInput, origin, ": not an HDF5 file");
  Handle file{H5Fopen(origin.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  if (file.id < 0) fail(ErrorKind::kInvalidInput, origin, ": HDF5 cannot open the file");
  return read_file(file.id, origin);
}

WeightStore parse_keras_h5(std::span<const uint8_t> bytes, const std::string& origin) {
  std::lock_guard lock(hdf5_mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (bytes.empty()) fail(ErrorKind::kInvalidInput, origin, ": empty file");
  Handle fapl{H5Pcreate(H5P_FILE_ACCESS), H5Pclose};
  if (fapl.id < 0 || H5Pset_fapl_core(fapl.id, 1 << 16, 0) < 0 ||
      H5Pset_file_image(fapl.id, const_cast<uint8_t*>(bytes.data()), bytes.size()) < 0)
    fail(ErrorKind::kInternal, origin, ": cannot set up an HDF5 file image");
  Handle file{H5Fopen(origin.c_str(), H5F_ACC_RDONLY, fapl.id), H5Fclose};
  if (file.id < 0) fail(ErrorKind::kInvalidInput, origin, ": HDF5 cannot open the file image");
  return read_file(file.id, origin);
}

}  // namespace ember::io
