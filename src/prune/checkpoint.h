// A model's weights and config.json held for pruning: every tensor of the source checkpoint
// (views into it until a tensor is sliced or re-fitted, then owned here), with the tensor names
// of its family's post-norm encoder layers. prune() slices what a KeepSpec removes exactly as
// transformers' prune_heads / prune_linear_layer do (rows of Q, K, V and the FFN input, columns
// of the output projections, biases alike) and renumbers the layers left; the config gains
// pruned_heads (in the numbering of the source's unpruned heads) and num_hidden_layers. MPNet's
// relative-position table is sliced to the heads kept: the shared table while every layer keeps
// the same heads, else one table per layer (the shared one's columns of that layer's heads).
// Supported: the BERT-family layouts (bert, roberta, xlm-roberta, electra) and mpnet.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "io/safetensors_writer.h"
#include "io/weight_store.h"
#include "prune/keep_spec.h"

namespace ember::prune {

// The names of one encoder layer's tensors: "<prefix><layer><N>.<name>.weight".
struct EncoderNames {
  std::string prefix;  // "", "bert.", "mpnet.", ...
  std::string layer = "encoder.layer.";
  std::string q = "attention.self.query", k = "attention.self.key", v = "attention.self.value";
  std::string o = "attention.output.dense";
  std::string ffn_in = "intermediate.dense", ffn_out = "output.dense";
  // MPNet: the table shared by all layers ([buckets, heads]), and the name in a layer of the
  // table of its own that a model whose layers keep different heads has instead.
  std::string relative_bias, layer_relative_bias;
  std::string tensor(size_t layer_index, const std::string& name, const char* what) const;
};

class Checkpoint {
 public:
  // Reads config.json and model.safetensors of a float model (kUnsupported for other families,
  // int8 models or pre-norm layers).
  static Checkpoint load(const std::filesystem::path& config, const std::filesystem::path& weights);

  const nlohmann::json& config() const { return config_; }
  const EncoderNames& names() const { return names_; }
  int64_t head_dim() const { return head_dim_; }

  // The pruned copy (the source's tensors are shared until changed).
  Checkpoint prune(const KeepSpec& keep) const;

  // A tensor (kNotFound naming it); F32 only for tensors that are sliced or re-fitted.
  Tensor get(const std::string& name) const;
  void set(const std::string& name, const Shape& shape, std::vector<float> data);

  // The weights as a WeightStore of views (valid while this checkpoint lives) and the config,
  // for model::Model::load.
  io::WeightStore store() const;
  // model.safetensors and config.json into `dir`.
  void write(const std::filesystem::path& dir) const;

 private:
  struct Entry {
    Tensor tensor;
    std::shared_ptr<const std::vector<float>> owned;  // null: a view into the source
  };
  Entry& owned_entry(const std::string& name, const Shape& shape, std::vector<float> data);
  // MPNet, on the pruned copy: its relative-position table(s) sliced to the kept heads.
  void slice_relative_bias(const KeepSpec& keep, const std::vector<int64_t>& index);

  nlohmann::json config_;
  EncoderNames names_;
  int64_t head_dim_ = 0;
  std::shared_ptr<const io::WeightStore> source_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, Entry> tensors_;
};

}  // namespace ember::prune
