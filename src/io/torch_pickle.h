// The pickle inside a PyTorch checkpoint (pytorch_model.bin's data.pkl), read by a restricted
// interpreter of the opcodes torch.save emits for a state dict. Nothing is ever executed: a
// GLOBAL is only a name, and only these names are accepted:
//   torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, collections.OrderedDict,
//   and the typed storage classes torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,
//   Bool}Storage (only as the type inside a persistent id).
// Any other global (os.system, builtins.eval, ...) is refused when it is named, with
// kUnsupported naming it. Opcodes that build arbitrary objects (INST, OBJ, NEWOBJ, EXT*) are
// refused with kInvalidInput. The result must be a flat {name: tensor} dict.
// Each tensor is checked against its storage: contiguous row-major strides, rank <= 4, no
// overflow, offset + numel inside the storage's declared element count.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ember::io {

struct TorchStorage {
  std::string key;  // the member data/<key> of the zip
  DType dtype = DType::kF32;
  int64_t numel = 0;  // as declared in the persistent id
};

struct TorchTensorRecord {
  std::string storage_key;
  DType dtype = DType::kF32;
  int64_t storage_offset = 0;  // in elements
  std::vector<int64_t> shape;
};

struct TorchPickle {
  std::map<std::string, TorchTensorRecord> tensors;
  std::map<std::string, TorchStorage> storages;
};

// `origin` names the input in errors ("pytorch_model.bin: data.pkl: ...").
TorchPickle parse_torch_pickle(std::span<const uint8_t> bytes, const std::string& origin);

}  // namespace ember::io
