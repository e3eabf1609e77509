#include "prune/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>

#include "core/error.h"
#include "io/json_config.h"
#include "model/int8_weights.h"

namespace ember::prune {
namespace fs = std::filesystem;

std::string EncoderNames::tensor(size_t layer_index, const std::string& name,
                                 const char* what) const {
  return prefix + layer + std::to_string(layer_index) + "." + name + "." + what;
}

namespace {

EncoderNames names_for(const std::string& model_type, const std::string& origin) {
  EncoderNames n;
  if (model_type == "mpnet") {
    n.q = "attention.attn.q";
    n.k = "attention.attn.k";
    n.v = "attention.attn.v";
    n.o = "attention.attn.o";
    n.relative_bias = "encoder.relative_attention_bias.weight";
    n.layer_relative_bias = "attention.relative_attention_bias";
    return n;
  }
  static const std::set<std::string> kBertLike = {"bert", "roberta", "xlm-roberta", "electra"};
  EMBER_CHECK(kBertLike.count(model_type) > 0, ErrorKind::kUnsupported, origin,
              ": pruning supports the post-norm BERT family (bert, roberta, xlm-roberta, electra) "
              "and mpnet, not model_type '",
              model_type, "'");
  return n;
}

// The listed rows of a [rows, cols] matrix (or entries of a vector).
std::vector<float> take_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  const int64_t cols = t.shape.rank() == 2 ? t.shape[1] : 1;
  std::vector<float> out(rows.size() * static_cast<size_t>(cols));
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(out.data() + i * cols, t.f32() + rows[i] * cols, sizeof(float) * cols);
  return out;
}

// The listed columns of a [rows, cols] matrix.
std::vector<float> take_cols(const Tensor& t, const std::vector<int64_t>& cols) {
  const int64_t rows = t.shape[0], n = t.shape[1], k = static_cast<int64_t>(cols.size());
  std::vector<float> out(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < k; ++c) out[r * k + c] = t.f32()[r * n + cols[c]];
  return out;
}

// The rows (or columns) of the kept heads' values.
std::vector<int64_t> head_units(const std::vector<int64_t>& heads, int64_t head_dim) {
  std::vector<int64_t> units;
  for (int64_t h : heads)
    for (int64_t d = 0; d < head_dim; ++d) units.push_back(h * head_dim + d);
  return units;
}

// The source layer index of a tensor under "<prefix><layer>N.", or -1.
int64_t layer_of(const std::string& name, const std::string& stem, size_t* rest) {
  if (!name.starts_with(stem)) return -1;
  const char* begin = name.data() + stem.size();
  const char* end = name.data() + name.size();
  int64_t i = -1;
  const auto [p, ec] = std::from_chars(begin, end, i);
  if (ec != std::errc() || p == end || *p != '.') return -1;
  *rest = static_cast<size_t>(p - name.data());
  return i;
}

}  // namespace

Checkpoint Checkpoint::load(const fs::path& config, const fs::path& weights) {
  Checkpoint c;
  const io::JsonConfig cfg = io::JsonConfig::load(config);
  c.config_ = cfg.raw();
  c.names_ = names_for(cfg.get_string("model_type"), cfg.origin());
  const int64_t hidden = cfg.get_positive_int("hidden_size");
  const int64_t heads = cfg.get_positive_int("num_attention_heads");
  EMBER_CHECK(hidden % heads == 0, ErrorKind::kInvalidInput, cfg.origin(), ": hidden_size ", hidden,
              " is not a multiple of num_attention_heads ", heads);
  c.head_dim_ = hidden / heads;
  auto store = std::make_shared<io::WeightStore>(io::WeightStore::from_safetensors(weights));
  EMBER_CHECK(store->metadata().count(model::kQuantizationKey) == 0, ErrorKind::kUnsupported,
              store->origin(),
              ": the model is quantized; prune the float model, then quantize the result");
  for (const char* p : {"", "bert.", "roberta.", "electra.", "mpnet."})
    if (store->has(std::string(p) + "embeddings.word_embeddings.weight")) c.names_.prefix = p;
  EMBER_CHECK(store->has(c.names_.tensor(0, c.names_.q, "weight")), ErrorKind::kUnsupported,
              store->origin(), ": no tensor '", c.names_.tensor(0, c.names_.q, "weight"),
              "'; the checkpoint's layout is not one pruning knows");
  c.metadata_ = store->metadata();
  for (const auto& name : store->names()) c.tensors_[name] = {store->get_raw(name), nullptr};
  c.source_ = std::move(store);
  return c;
}

Tensor Checkpoint::get(const std::string& name) const {
  const auto it = tensors_.find(name);
  EMBER_CHECK(it != tensors_.end(), ErrorKind::kNotFound, "checkpoint has no tensor '", name, "'");
  return it->second.tensor;
}

Checkpoint::Entry& Checkpoint::owned_entry(const std::string& name, const Shape& shape,
                                           std::vector<float> data) {
  EMBER_CHECK(static_cast<int64_t>(data.size()) == shape.numel(), ErrorKind::kInternal, "tensor '",
              name, "': ", data.size(), " values for shape ", shape.str());
  auto owned = std::make_shared<const std::vector<float>>(std::move(data));
  Entry& e = tensors_[name];
  e.tensor = Tensor{DType::kF32, shape, owned->data()};
  e.owned = std::move(owned);
  return e;
}

void Checkpoint::set(const std::string& name, const Shape& shape, std::vector<float> data) {
  EMBER_CHECK(tensors_.count(name) > 0, ErrorKind::kInternal, "checkpoint has no tensor '", name,
              "'");
  owned_entry(name, shape, std::move(data));
}

Checkpoint Checkpoint::prune(const KeepSpec& keep) const {
  const int64_t configured = config_.at("num_attention_heads").get<int64_t>();
  const size_t n = keep.layers.size();
  const std::string stem = names_.prefix + names_.layer;
  // New index of every kept layer.
  std::vector<int64_t> index(n, -1);
  int64_t next = 0;
  for (size_t i = 0; i < n; ++i)
    if (!keep.layers[i].drop) index[i] = next++;

  Checkpoint out;
  out.names_ = names_;
  out.head_dim_ = head_dim_;
  out.source_ = source_;
  out.metadata_ = metadata_;
  out.config_ = config_;
  for (const auto& [name, entry] : tensors_) {
    size_t rest = 0;
    const int64_t layer = layer_of(name, stem, &rest);
    if (layer < 0) {
      out.tensors_[name] = entry;
      continue;
    }
    EMBER_CHECK(static_cast<size_t>(layer) < n, ErrorKind::kInvalidInput, "tensor '", name,
                "' belongs to layer ", layer, "; the keep spec lists ", n);
    if (index[layer] < 0) continue;  // a dropped layer
    out.tensors_[stem + std::to_string(index[layer]) + name.substr(rest)] = entry;
  }
  // Slice the kept layers (names are now the new ones).
  for (size_t i = 0; i < n; ++i) {
    const LayerKeep& lk = keep.layers[i];
    if (lk.drop) continue;
    const size_t j = static_cast<size_t>(index[i]);
    const auto units = head_units(lk.heads, head_dim_);
    const int64_t kept = static_cast<int64_t>(units.size()),
                  f = static_cast<int64_t>(lk.ffn.size());
    for (const std::string* proj : {&names_.q, &names_.k, &names_.v}) {
      const std::string w = names_.tensor(j, *proj, "weight"), b = names_.tensor(j, *proj, "bias");
      const Tensor tw = out.get(w);
      out.owned_entry(w, Shape{kept, tw.shape[1]}, take_rows(tw, units));
      if (out.tensors_.count(b)) out.owned_entry(b, Shape{kept}, take_rows(out.get(b), units));
    }
    const std::string o = names_.tensor(j, names_.o, "weight");
    const Tensor to = out.get(o);
    out.owned_entry(o, Shape{to.shape[0], kept}, take_cols(to, units));
    const std::string fi = names_.tensor(j, names_.ffn_in, "weight"),
                      fb = names_.tensor(j, names_.ffn_in, "bias");
    const Tensor tfi = out.get(fi);
    out.owned_entry(fi, Shape{f, tfi.shape[1]}, take_rows(tfi, lk.ffn));
    if (out.tensors_.count(fb)) out.owned_entry(fb, Shape{f}, take_rows(out.get(fb), lk.ffn));
    const std::string fo = names_.tensor(j, names_.ffn_out, "weight");
    const Tensor tfo = out.get(fo);
    out.owned_entry(fo, Shape{tfo.shape[0], f}, take_cols(tfo, lk.ffn));
  }

  // pruned_heads in the numbering of the unpruned heads: the source's own pruned heads, plus
  // those of its current heads that the spec removes.
  nlohmann::json pruned = nlohmann::json::object();
  for (size_t i = 0; i < n; ++i) {
    const LayerKeep& lk = keep.layers[i];
    if (lk.drop) continue;
    std::set<int64_t> gone;
    const std::string key = std::to_string(i);
    if (config_.contains("pruned_heads") && config_["pruned_heads"].contains(key))
      for (const auto& h : config_["pruned_heads"][key]) gone.insert(h.get<int64_t>());
    std::vector<int64_t> current;
    for (int64_t h = 0; h < configured; ++h)
      if (!gone.count(h)) current.push_back(h);
    std::set<int64_t> removed(gone);
    std::set<int64_t> kept(lk.heads.begin(), lk.heads.end());
    for (size_t c = 0; c < current.size(); ++c)
      if (!kept.count(static_cast<int64_t>(c))) removed.insert(current[c]);
    if (!removed.empty())
      pruned[std::to_string(index[i])] = std::vector<int64_t>(removed.begin(), removed.end());
  }
  out.config_["pruned_heads"] = pruned;
  out.config_["num_hidden_layers"] = keep.kept_layers();
  if (!names_.relative_bias.empty()) out.slice_relative_bias(keep, index);
  return out;
}

void Checkpoint::slice_relative_bias(const KeepSpec& keep, const std::vector<int64_t>& index) {
  const std::string shared = names_.prefix + names_.relative_bias;
  const bool has_shared = tensors_.count(shared) > 0;
  bool own_tables = false, same = true;
  const std::vector<int64_t>* first = nullptr;
  for (size_t i = 0; i < keep.layers.size(); ++i) {
    if (keep.layers[i].drop) continue;
    const auto j = static_cast<size_t>(index[i]);
    own_tables =
        own_tables || tensors_.count(names_.tensor(j, names_.layer_relative_bias, "weight")) > 0;
    if (!first) first = &keep.layers[i].heads;
    same = same && keep.layers[i].heads == *first;
  }
  if (!first) return;
  if (same && !own_tables) {
    const Tensor t = get(shared);
    if (static_cast<int64_t>(first->size()) != t.shape[1])
      owned_entry(shared, Shape{t.shape[0], static_cast<int64_t>(first->size())},
                  take_cols(t, *first));
    return;
  }
  // A table per layer: its own (renumbered with the layer) or the shared one, sliced to the
  // layer's kept heads; the shared table goes once every layer has its own.
  for (size_t i = 0; i < keep.layers.size(); ++i) {
    const LayerKeep& lk = keep.layers[i];
    if (lk.drop) continue;
    const std::string own =
        names_.tensor(static_cast<size_t>(index[i]), names_.layer_relative_bias, "weight");
    const Tensor t = get(tensors_.count(own) ? own : shared);
    owned_entry(own, Shape{t.shape[0], static_cast<int64_t>(lk.heads.size())},
                take_cols(t, lk.heads));
  }
  if (has_shared) tensors_.erase(shared);
}

io::WeightStore Checkpoint::store() const {
  io::WeightStore s;
  s.set_origin(source_->origin() + " (pruned)");
  s.keep_alive(source_);
  for (const auto& [name, e] : tensors_) {
    if (e.tensor.dtype != DType::kF32) continue;  // position_ids: no model reads them
    s.add_view(name, e.tensor);
    if (e.owned) s.keep_alive(e.owned);
  }
  return s;
}

void Checkpoint::write(const fs::path& dir) const {
  std::vector<io::TensorToWrite> out;
  for (const auto& [name, e] : tensors_) out.push_back({name, e.tensor});
  io::write_safetensors(dir / "model.safetensors", out, metadata_);
  std::ofstream f(dir / "config.json");
  f << config_.dump(2) << "\n";
  f.close();
  EMBER_CHECK(f.good(), ErrorKind::kUnavailable, "cannot write ", (dir / "config.json").string());
}

}  // namespace ember::prune
