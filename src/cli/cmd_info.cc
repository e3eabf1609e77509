// ember info: what a model is, as Ember loaded it.
#include <iostream>

#include "cli/commands.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "model/architecture.h"

namespace ember::cli {
namespace {

const char* head_name(model::HeadKind kind) {
  switch (kind) {
    case model::HeadKind::kNone:
      return "none";
    case model::HeadKind::kSequenceClassification:
      return "sequence_classification";
    case model::HeadKind::kTokenClassification:
      return "token_classification";
    case model::HeadKind::kMaskedLm:
      return "masked_lm";
  }
  return "none";
}

int run_info(const ModelFlags& f) {
  const auto engine = runtime::Engine::load(f.model, f.options());
  const auto& c = engine->spec();
  const auto& i = engine->info();
  // One entry per layer: pruned models differ from layer to layer.
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : c.layers) {
    layers.push_back({{"heads", l.attn.heads},
                      {"kv_heads", l.attn.kv_heads},
                      {"head_dim", l.attn.head_dim},
                      {"ffn_width", l.ffn.width},
                      {"ffn", l.ffn.kind == model::FfnKind::kGated ? "gated" : "plain"},
                      {"activation", ops::activation_name(l.ffn.act)},
                      {"norm", l.placement == model::NormPlacement::kPre ? "pre" : "post"},
                      {"attention", l.attn.mask == ops::MaskKind::kCausal  ? "causal"
                                    : l.attn.mask == ops::MaskKind::kLocal ? "local"
                                                                           : "full"},
                      {"rotary", l.attn.rotary.has_value()}});
    // Local attention's reach on either side, and the rotary theta (ModernBERT's differ).
    if (l.attn.mask == ops::MaskKind::kLocal) layers.back()["window"] = l.attn.window;
    if (l.attn.rotary) layers.back()["rotary_base"] = l.attn.rotary->base;
  }
  nlohmann::json out = {
      {"model", i.name},
      {"dir", i.dir},
      {"weights", i.weights},
      {"quantization", i.quantization.empty() ? "none" : i.quantization},
      {"dtype", i.dtype},
      {"dtype_note", i.dtype_note},
      {"model_type", c.model_type},
      {"architecture", c.architecture},
      {"vocab_size", c.vocab_size()},
      {"hidden_size", c.hidden_size},
      {"embedding_size", c.embeddings.dim},
      {"num_layers", c.num_layers()},
      {"num_heads", c.layers.front().attn.heads},
      {"intermediate_size", c.layers.front().ffn.width},
      {"max_position_embeddings", c.embeddings.max_positions},
      {"layers", layers},
      {"max_length", i.max_length},
      {"parameters", i.parameters},
      {"pooling", io::pooling_mode_name(i.pooling)},
      {"pooling_source", i.pooling_from_config ? "sentence-transformers" : "default"},
      {"normalize", i.normalize},
      {"sparse", i.splade.has_value()},
      {"head", head_name(c.head)},
      {"labels", c.labels},
      {"tokenizer", i.has_tokenizer},
      {"isa", isa_name(active_isa())},
      {"backend", i.backend},
      {"threads", i.threads},
  };
  if (!i.quantization.empty()) {
    // int8: how many encoder Linears stay fp32 (ember quantize --keep-fp32), and which.
    out["fp32_linears"] = i.fp32_linears.size();
    out["fp32_linear_names"] = i.fp32_linears;
  }
  if (c.head == model::HeadKind::kSequenceClassification)
    out["head_pooling"] = c.head_pooling == model::HeadPooling::kMean ? "mean" : "first_token";
  if (c.disentangled) {  // DeBERTa: relative positions shared by all layers
    nlohmann::json terms = nlohmann::json::array();
    if (c.disentangled->c2p) terms.push_back("c2p");
    if (c.disentangled->p2c) terms.push_back("p2c");
    out["relative_attention"] = {{"kind", "disentangled"},
                                 {"position_buckets", c.disentangled->buckets},
                                 {"max_relative_positions", c.disentangled->max_relative},
                                 {"terms", terms}};
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace

Runner add_info(CLI::App& app) {
  auto f = std::make_shared<ModelFlags>();
  f->add_to(app);
  return [f] { return run_info(*f); };
}

}  // namespace ember::cli
