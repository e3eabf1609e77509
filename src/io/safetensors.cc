#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/dims.h"

namespace ember::io {
namespace {

// A header this large is not a weights index but an attack or a corrupt file; the real
// format caps it at 100 MB too.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// Valid safetensors dtypes that Ember has no DType for: kUnsupported rather than "unknown".
constexpr std::string_view kOtherSafetensorsDtypes[] = {
    "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"};

struct Entry {
  std::string name;
  uint64_t begin;
  uint64_t end;
};

[[noreturn]] void bad_tensor(const std::string& origin, const std::string& name,
                             const std::string& what) {
  fail(ErrorKind::kInvalidInput, origin, ": tensor '", name, "': ", what);
}

// A JSON integer >= 0 that fits in int64 (safetensors never needs more).
std::optional<int64_t> non_negative_int(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < 0) return std::nullopt;
    return i;
  }
  return std::nullopt;
}

void parse_metadata(const nlohmann::json& meta, const std::string& origin,
                    std::map<std::string, std::string>& out) {
  if (!meta.is_object())
    fail(ErrorKind::kInvalidInput, origin, ": __metadata__ must be an object of strings");
  for (const auto& [key, value] : meta.items()) {
    if (!value.is_string())
      fail(ErrorKind::kInvalidInput, origin, ": __metadata__ value for '", key,
           "' must be a string");
    out[key] = value.get<std::string>();
  }
}

DType parse_dtype(const nlohmann::json& entry, const std::string& origin, const std::string& name) {
  const auto it = entry.find("dtype");
  if (it == entry.end() || !it->is_string()) bad_tensor(origin, name, "'dtype' must be a string");
  const std::string& text = it->get_ref<const std::string&>();
  if (auto dtype = dtype_from_name(text)) return *dtype;
  for (std::string_view other : kOtherSafetensorsDtypes)
    if (other == text)
      fail(ErrorKind::kUnsupported, origin, ": tensor '", name, "': dtype ", text,
           " is not supported");
  bad_tensor(origin, name, cat("unknown dtype '", text, "'"));
}

Shape parse_shape(const nlohmann::json& entry, const std::string& origin, const std::string& name,
                  DType dtype, uint64_t& nbytes) {
  const auto it = entry.find("shape");
  if (it == entry.end() || !it->is_array())
    bad_tensor(origin, name, "'shape' must be a list of non-negative integers");
  if (it->size() > static_cast<size_t>(Shape::kMaxRank))
    fail(ErrorKind::kUnsupported, origin, ": tensor '", name, "': rank ", it->size(),
         " exceeds the maximum of ", Shape::kMaxRank);
  std::vector<int64_t> dims;
  uint64_t numel = 1;
  for (const auto& d : *it) {
    const auto v = non_negative_int(d);
    if (!v) bad_tensor(origin, name, "'shape' must be a list of non-negative integers");
    dims.push_back(*v);
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(*v), &numel) ||
        numel > static_cast<uint64_t>(INT64_MAX))
      bad_tensor(origin, name, "number of elements overflows");
  }
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(dtype)), &nbytes))
    bad_tensor(origin, name, "byte size overflows");
  return shape_from_dims(dims);
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto file = std::make_shared<MappedFile>(MappedFile::open(path));
  SafetensorsFile st = parse(file->bytes(), path.string());
  st.file_ = std::move(file);
  return st;
}

SafetensorsFile SafetensorsFile::parse(std::span<const uint8_t> bytes, const std::string& origin) {
  if (bytes.size() < 8)
    fail(ErrorKind::kInvalidInput, origin, ": file is too short (", bytes.size(),
         " bytes) for a safetensors header");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little endian
  if (header_len > kMaxHeaderBytes)
    fail(ErrorKind::kInvalidInput, origin, ": header length ", header_len, " exceeds the limit of ",
         kMaxHeaderBytes, " bytes");
  if (header_len > bytes.size() - 8)
    fail(ErrorKind::kInvalidInput, origin, ": header length ", header_len,
         " runs past the end of the file (", bytes.size(), " bytes)");

  const auto* header_begin = bytes.data() + 8;
  nlohmann::json header =
      nlohmann::json::parse(header_begin, header_begin + header_len, nullptr, false);
  if (header.is_discarded()) fail(ErrorKind::kInvalidInput, origin, ": header is not valid JSON");
  if (!header.is_object()) fail(ErrorKind::kInvalidInput, origin, ": header must be a JSON object");

  SafetensorsFile st;
  st.origin_ = origin;
  const std::span<const uint8_t> data = bytes.subspan(8 + header_len);
  std::vector<Entry> entries;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      parse_metadata(entry, origin, st.metadata_);
      continue;
    }
    if (!entry.is_object()) bad_tensor(origin, name, "entry must be an object");
    const DType dtype = parse_dtype(entry, origin, name);
    uint64_t nbytes = 0;
    const Shape shape = parse_shape(entry, origin, name, dtype, nbytes);

    const auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2)
      bad_tensor(origin, name, "'data_offsets' must be [begin, end]");
    const auto begin = non_negative_int((*offsets)[0]);
    const auto end = non_negative_int((*offsets)[1]);
    if (!begin || !end) bad_tensor(origin, name, "'data_offsets' must be non-negative integers");
    if (*begin > *end)
      bad_tensor(origin, name, cat("data_offsets [", *begin, ", ", *end, "]: begin is after end"));
    if (static_cast<uint64_t>(*end) > data.size())
      bad_tensor(origin, name,
                 cat("data_offsets [", *begin, ", ", *end, "] are outside the data section of ",
                     data.size(), " bytes"));
    const uint64_t span = static_cast<uint64_t>(*end - *begin);
    if (span != nbytes)
      bad_tensor(origin, name,
                 cat("data_offsets cover ", span, " bytes, but shape ", shape.str(), " of ",
                     dtype_name(dtype), " needs ", nbytes));

    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    t.data = data.data() + *begin;
    st.tensors_.emplace(name, t);
    entries.push_back({name, static_cast<uint64_t>(*begin), static_cast<uint64_t>(*end)});
  }

  // Overlaps: sorted by begin, each non-empty tensor must start at or after the furthest end
  // seen so far. Empty tensors occupy no bytes and cannot overlap anything.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  const Entry* furthest = nullptr;
  for (const Entry& e : entries) {
    if (e.begin == e.end) continue;
    if (furthest != nullptr && e.begin < furthest->end)
      bad_tensor(origin, e.name, cat("data overlaps tensor '", furthest->name, "'"));
    if (furthest == nullptr || e.end > furthest->end) furthest = &e;
  }
  return st;
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::kNotFound, origin_, ": missing tensor '", name, "'");
  return it->second;
}

}  // namespace ember::io
