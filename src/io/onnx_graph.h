// An index over an ONNX graph for importers: constants by name (initializers and Constant
// nodes), the node producing and the nodes consuming each value, and tensor data decoded to
// F32 / I64 whether it is stored as raw_data, typed fields (float_data, ...) or external data.
#pragma once

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>  // defines ONNX_API, then includes onnx-ml.pb.h

#include "core/aligned_buffer.h"
#include "io/mapped_file.h"

namespace ember::io {

class OnnxGraph {
 public:
  // `base_dir` resolves external data locations; `origin` names the file in errors.
  OnnxGraph(const onnx::GraphProto& graph, std::filesystem::path base_dir, std::string origin);

  const onnx::GraphProto& proto() const { return graph_; }
  const std::string& origin() const { return origin_; }
  // An initializer or the value of a Constant node; null when `value` is computed.
  const onnx::TensorProto* constant(const std::string& value) const;
  const onnx::NodeProto* producer(const std::string& value) const;
  const std::vector<const onnx::NodeProto*>& consumers(const std::string& value) const;
  bool is_graph_input(const std::string& value) const;

  std::vector<int64_t> dims(const onnx::TensorProto& t) const;  // validated, >= 0
  int64_t numel(const onnx::TensorProto& t) const;
  AlignedBuffer<float> floats(
      const onnx::TensorProto& t) const;                        // FLOAT, FLOAT16, BFLOAT16, DOUBLE
  std::vector<int64_t> ints(const onnx::TensorProto& t) const;  // INT64, INT32

 private:
  // Bytes of a raw_data or external tensor; nullopt when the data is in typed fields.
  std::optional<std::string_view> raw_bytes(const onnx::TensorProto& t, size_t elem_size) const;

  const onnx::GraphProto& graph_;
  std::filesystem::path base_dir_;
  std::string origin_;
  std::map<std::string, const onnx::TensorProto*> constants_;
  std::deque<onnx::TensorProto> synthesized_;  // Constant nodes given as value_int(s)
  std::map<std::string, const onnx::NodeProto*> producers_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
  std::vector<std::string> inputs_;
  mutable std::map<std::string, std::shared_ptr<MappedFile>> external_;
};

}  // namespace ember::io
