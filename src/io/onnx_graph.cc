#include "io/onnx_graph.h"

#include <cstring>

#include "core/dtype.h"
#include "core/error.h"

namespace ember::io {
namespace {

size_t elem_size(int32_t data_type) {
  switch (data_type) {
    case onnx::TensorProto::FLOAT:
      return 4;
    case onnx::TensorProto::FLOAT16:
      return 2;
    case onnx::TensorProto::BFLOAT16:
      return 2;
    case onnx::TensorProto::DOUBLE:
      return 8;
    case onnx::TensorProto::INT64:
      return 8;
    case onnx::TensorProto::INT32:
      return 4;
    default:
      return 0;
  }
}

}  // namespace

OnnxGraph::OnnxGraph(const onnx::GraphProto& graph, std::filesystem::path base_dir,
                     std::string origin)
    : graph_(graph), base_dir_(std::move(base_dir)), origin_(std::move(origin)) {
  for (const auto& t : graph.initializer()) constants_[t.name()] = &t;
  for (const auto& in : graph.input()) inputs_.push_back(in.name());
  for (const auto& node : graph.node()) {
    for (const auto& out : node.output()) producers_[out] = &node;
    for (const auto& in : node.input())
      if (!in.empty()) consumers_[in].push_back(&node);
    if (node.op_type() != "Constant" || node.output_size() != 1) continue;
    for (const auto& attr : node.attribute()) {
      if (attr.name() == "value" && attr.has_t()) {
        constants_[node.output(0)] = &attr.t();
      } else if (attr.name() == "value_int" || attr.name() == "value_ints") {
        onnx::TensorProto& t = synthesized_.emplace_back();
        t.set_data_type(onnx::TensorProto::INT64);
        if (attr.name() == "value_int") {
          t.add_int64_data(attr.i());
        } else {
          t.add_dims(attr.ints_size());
          for (int64_t v : attr.ints()) t.add_int64_data(v);
        }
        constants_[node.output(0)] = &t;
      }
    }
  }
}

const onnx::TensorProto* OnnxGraph::constant(const std::string& value) const {
  const auto it = constants_.find(value);
  return it == constants_.end() ? nullptr : it->second;
}

const onnx::NodeProto* OnnxGraph::producer(const std::string& value) const {
  const auto it = producers_.find(value);
  return it == producers_.end() ? nullptr : it->second;
}

const std::vector<const onnx::NodeProto*>& OnnxGraph::consumers(const std::string& value) const {
  static const std::vector<const onnx::NodeProto*> kNone;
  const auto it = consumers_.find(value);
  return it == consumers_.end() ? kNone : it->second;
}

bool OnnxGraph::is_graph_input(const std::string& value) const {
  for (const auto& in : inputs_)
    if (in == value) return true;
  return false;
}

std::vector<int64_t> OnnxGraph::dims(const onnx::TensorProto& t) const {
  std::vector<int64_t> d(t.dims().begin(), t.dims().end());
  for (int64_t v : d)
    EMBER_CHECK(v >= 0, ErrorKind::kInvalidInput, origin_, ": tensor '", t.name(),
                "' has a negative dimension");
  return d;
}

int64_t OnnxGraph::numel(const onnx::TensorProto& t) const {
  int64_t n = 1;
  for (int64_t v : dims(t))
    EMBER_CHECK(!__builtin_mul_overflow(n, v, &n), ErrorKind::kInvalidInput, origin_, ": tensor '",
                t.name(), "' has too many elements");
  return n;
}

std::optional<std::string_view> OnnxGraph::raw_bytes(const onnx::TensorProto& t,
                                                     size_t size) const {
  const uint64_t n = static_cast<uint64_t>(numel(t));
  uint64_t want = 0;
  EMBER_CHECK(!__builtin_mul_overflow(n, size, &want), ErrorKind::kInvalidInput, origin_,
              ": tensor '", t.name(), "' is too large");
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    uint64_t offset = 0, length = want;
    for (const auto& kv : t.external_data()) {
      try {
        if (kv.key() == "location") location = kv.value();
        if (kv.key() == "offset") offset = std::stoull(kv.value());
        if (kv.key() == "length") length = std::stoull(kv.value());
      } catch (const std::exception&) {
        fail(ErrorKind::kInvalidInput, origin_, ": tensor '", t.name(), "': bad external ",
             kv.key(), " '", kv.value(), "'");
      }
    }
    // External data must stay beside the model: no absolute paths, no "..".
    const std::filesystem::path rel(location);
    EMBER_CHECK(!location.empty() && rel.is_relative() && location.find("..") == std::string::npos,
                ErrorKind::kInvalidInput, origin_, ": tensor '", t.name(),
                "': external data location '", location, "' is not a file beside the model");
    auto& file = external_[location];
    if (!file) file = std::make_shared<MappedFile>(MappedFile::open(base_dir_ / rel));
    const auto bytes = file->bytes();
    EMBER_CHECK(length == want && offset <= bytes.size() && length <= bytes.size() - offset,
                ErrorKind::kInvalidInput, origin_, ": tensor '", t.name(), "': external data [",
                offset, ", +", length, ") does not hold ", want, " bytes inside ", location);
    return std::string_view(reinterpret_cast<const char*>(bytes.data()) + offset, length);
  }
  if (!t.has_raw_data()) return std::nullopt;
  EMBER_CHECK(t.raw_data().size() == want, ErrorKind::kInvalidInput, origin_, ": tensor '",
              t.name(), "' has ", t.raw_data().size(), " bytes of raw_data, expected ", want);
  return std::string_view(t.raw_data());
}

AlignedBuffer<float> OnnxGraph::floats(const onnx::TensorProto& t) const {
  const int32_t type = t.data_type();
  const bool is_float = type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::FLOAT16 ||
                        type == onnx::TensorProto::BFLOAT16 || type == onnx::TensorProto::DOUBLE;
  EMBER_CHECK(is_float, ErrorKind::kUnsupported, origin_, ": tensor '", t.name(),
              "' has ONNX data type ", type, ", not a floating-point type");
  const size_t n = static_cast<size_t>(numel(t));
  // Sizes are checked against the stored data before allocating, so a lying header cannot
  // ask for terabytes.
  const auto raw = raw_bytes(t, elem_size(type));
  const size_t have = raw                                 ? n
                      : type == onnx::TensorProto::FLOAT  ? t.float_data_size()
                      : type == onnx::TensorProto::DOUBLE ? t.double_data_size()
                                                          : t.int32_data_size();
  EMBER_CHECK(have == n, ErrorKind::kInvalidInput, origin_, ": tensor '", t.name(), "' has ", have,
              " values, expected ", n);
  AlignedBuffer<float> out(n == 0 ? 1 : n);
  if (raw) {
    const char* p = raw->data();  // little endian, possibly unaligned: memcpy each element
    for (size_t i = 0; i < n; ++i) {
      if (type == onnx::TensorProto::FLOAT) {
        std::memcpy(&out[i], p + 4 * i, 4);
      } else if (type == onnx::TensorProto::DOUBLE) {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
      } else {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = type == onnx::TensorProto::FLOAT16 ? half_to_float(h) : bf16_to_float(h);
      }
    }
    return out;
  }
  // Typed fields: FLOAT in float_data, DOUBLE in double_data, 16-bit types in int32_data.
  for (size_t i = 0; i < n; ++i) {
    const int idx = static_cast<int>(i);
    if (type == onnx::TensorProto::FLOAT) {
      out[i] = t.float_data(idx);
    } else if (type == onnx::TensorProto::DOUBLE) {
      out[i] = static_cast<float>(t.double_data(idx));
    } else {
      const auto h = static_cast<uint16_t>(t.int32_data(idx));
      out[i] = type == onnx::TensorProto::FLOAT16 ? half_to_float(h) : bf16_to_float(h);
    }
  }
  return out;
}

std::vector<int64_t> OnnxGraph::ints(const onnx::TensorProto& t) const {
  const int32_t type = t.data_type();
  EMBER_CHECK(type == onnx::TensorProto::INT64 || type == onnx::TensorProto::INT32,
              ErrorKind::kUnsupported, origin_, ": tensor '", t.name(), "' has ONNX data type ",
              type, ", not an integer type");
  const size_t n = static_cast<size_t>(numel(t));
  const auto raw = raw_bytes(t, elem_size(type));
  const size_t have = raw                                ? n
                      : type == onnx::TensorProto::INT64 ? t.int64_data_size()
                                                         : t.int32_data_size();
  EMBER_CHECK(have == n, ErrorKind::kInvalidInput, origin_, ": tensor '", t.name(), "' has ", have,
              " values, expected ", n);
  std::vector<int64_t> out(n);
  if (raw) {
    for (size_t i = 0; i < n; ++i) {
      if (type == onnx::TensorProto::INT64) {
        std::memcpy(&out[i], raw->data() + 8 * i, 8);
      } else {
        int32_t v;
        std::memcpy(&v, raw->data() + 4 * i, 4);
        out[i] = v;
      }
    }
    return out;
  }
  for (size_t i = 0; i < n; ++i)
    out[i] = type == onnx::TensorProto::INT64 ? t.int64_data(static_cast<int>(i))
                                              : t.int32_data(static_cast<int>(i));
  return out;
}

}  // namespace ember::io
