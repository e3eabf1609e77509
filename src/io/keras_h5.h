// tf_model.h5 as TensorFlow/Keras save_weights writes it for a Hugging Face TF model: one HDF5
// dataset per weight, at <layer>/<weight name>, the weight name being
// "tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0". Names are mapped onto
// the PyTorch names the architectures bind, the way transformers converts TF weights to
// PyTorch: drop ":0" and the model-level scope, "_._" -> ".", "/" -> ".", and the last part
// kernel/gamma/embeddings -> weight, beta -> bias; 2-D kernels ([in, out] in Keras) are
// transposed to PyTorch's [out, in]. Float datasets are read as F32 through the HDF5 C API
// (Debian's libhdf5); a dataset must store at least the bytes its shape needs (so no filtered
// or sparse data), rank <= 4. Errors name the file and the dataset: kInvalidInput for a file
// HDF5 cannot read or an inconsistent dataset, kUnsupported for integer or other
// non-float datasets and kernels that are not 2-D.
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "io/weight_store.h"

namespace ember::io {

WeightStore load_keras_h5(const std::filesystem::path& path);
// The same from an in-memory HDF5 file image (tests and fuzzing); `origin` names it in errors.
WeightStore parse_keras_h5(std::span<const uint8_t> bytes, const std::string& origin);

// "tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0" ->
// "bert.encoder.layer.0.attention.self.query.weight", with `transpose` set for kernels.
std::string keras_to_torch_name(const std::string& keras_name, bool& transpose);

}  // namespace ember::io
