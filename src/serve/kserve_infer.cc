#include "serve/kserve_infer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "serve/errors.h"
#include "serve/request_cost.h"

namespace ember::serve::kserve {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw HttpError(400, error_type::kValidation, message);
}

bool is_classifier(const ServeContext& ctx) {
  return ctx.model.info().kind == ember::ModelKind::kSequenceClassification;
}

// The texts of the one input tensor, after the checks Triton makes for a model's config.
std::vector<std::string> text_input(const InferRequest& req) {
  if (req.inputs.size() != 1)
    bad(cat("expected 1 input tensor \"", kTextInput, "\", got ", req.inputs.size()));
  const auto& in = req.inputs[0];
  if (in.name != kTextInput)
    bad(cat("unknown input \"", in.name, "\"; the model takes \"", kTextInput, "\""));
  if (in.datatype != "BYTES")
    bad(cat("input \"", kTextInput, "\" has datatype ", in.datatype, "; expected BYTES"));
  if (in.shape.empty() || in.shape.size() > 2 || (in.shape.size() == 2 && in.shape[1] != 1))
    bad(cat("input \"", kTextInput, "\" must have shape [n] or [n, 1]"));
  return in.texts;
}

// Requested outputs, checked against the model's; all of them when none is named.
std::vector<RequestedOutput> outputs_of(const InferRequest& req, const ModelMeta& meta) {
  if (req.outputs.empty()) {
    std::vector<RequestedOutput> all;
    for (const auto& o : meta.outputs) all.push_back({o.name, req.binary_data_output});
    return all;
  }
  for (const auto& o : req.outputs) {
    if (std::none_of(meta.outputs.begin(), meta.outputs.end(),
                     [&](const TensorMeta& m) { return m.name == o.name; }))
      bad(cat("unknown output \"", o.name, "\""));
  }
  return req.outputs;
}

InputRules rules_of(const ServeContext& ctx, const Request& transport,
                    const nlohmann::json& params) {
  InputRules rules = input_rules(ctx, transport);
  rules.truncate = get_bool(params, "truncate", false);
  rules.side = get_truncation_side(params);
  rules.allow_empty_text = true;
  return rules;
}

void infer_embedding(const ServeContext& ctx, const Request& transport, Reply reply,
                     const InferRequest& req, std::vector<RequestedOutput> outputs,
                     FormatOutputs format) {
  const auto texts = text_input(req);
  auto rules = rules_of(ctx, transport, req.parameters);
  set_prompt(rules, req.parameters, ctx.prompts);  // parameter "prompt_name"
  const bool normalize = get_bool(req.parameters, "normalize", true);
  const auto dims = get_dimensions(req.parameters, ctx.model.info().hidden_size);
  const bool binary = outputs.front().binary;  // one output: "embedding"
  embed_async(
      ctx, transport, std::move(reply), nlohmann::json(texts), rules, normalize, dims,
      [binary, format = std::move(format)](const Embeddings& e) {
        return format({OutputTensor{"embedding", {e.count, e.dims}, e.values.data(), binary}});
      });
}

void infer_classifier(const ServeContext& ctx, const Request& transport, Reply reply,
                      const InferRequest& req, std::vector<RequestedOutput> outputs,
                      FormatOutputs format) {
  const auto texts = text_input(req);
  std::vector<TextOrPair> items;
  items.reserve(texts.size());
  for (const auto& t : texts) items.emplace_back(t, std::nullopt);
  const auto t0 = Clock::now();
  TokenizedInputs tokenized =
      tokenize_texts(items, ctx.model, rules_of(ctx, transport, req.parameters));
  Timings timings;
  timings.tokenization_ms = ms_between(t0, Clock::now());
  timings.tokens = tokenized.tokens;
  const auto labels = static_cast<int64_t>(ctx.model.info().labels.size());

  InferPlan plan;
  plan.answer_bytes = scores_answer_cost(static_cast<int64_t>(tokenized.sequences.size()), labels);
  plan.cache_scope = "kserve|logits";  // raw logits; probabilities are derived per request
  plan.outputs = ember::kSeqLogits;
  plan.extract = [](const JobResult& r, size_t row) {
    const float* src = r.seq_logits.data() + row * static_cast<size_t>(r.num_labels);
    return std::vector<float>(src, src + r.num_labels);
  };
  plan.format = [labels, outputs = std::move(outputs),
                 format = std::move(format)](const std::vector<std::vector<float>>& rows) {
    const auto n = static_cast<int64_t>(rows.size());
    std::vector<float> logits, probs(static_cast<size_t>(n * labels));
    logits.reserve(probs.size());
    for (const auto& r : rows) logits.insert(logits.end(), r.begin(), r.end());
    for (int64_t i = 0; i < n; ++i) {
      const auto row = logits.begin() + i * labels;
      const std::vector<float> p = ember::Model::scores(std::vector<float>(row, row + labels));
      std::copy(p.begin(), p.end(), probs.begin() + i * labels);
    }
    std::vector<OutputTensor> out;
    for (const auto& o : outputs)
      out.push_back(
          {o.name, {n, labels}, o.name == "logits" ? logits.data() : probs.data(), o.binary});
    return format(out);
  };
  infer_async(ctx, transport, std::move(reply), std::move(tokenized), timings, std::move(plan));
}

}  // namespace

const std::vector<std::string>& server_extensions() {
  static const std::vector<std::string> kExtensions = {"binary_tensor_data", "parameters",
                                                       "model_repository"};
  return kExtensions;
}

std::string model_name(const ServeContext& ctx) {
  auto p = std::filesystem::path(ctx.model_id);
  if (!p.has_filename()) p = p.parent_path();  // "dir/model/"
  const auto name = p.filename().string();
  return name.empty() ? ctx.model_id : name;
}

std::vector<std::string> model_aliases(const ServeContext& ctx) {
  std::vector<std::string> names = {model_name(ctx)};
  if (ctx.model_id != names[0]) names.push_back(ctx.model_id);
  return names;
}

ModelMeta model_metadata(const ServeContext& ctx) {
  ModelMeta m;
  m.name = model_name(ctx);
  m.inputs.push_back({std::string(kTextInput), "BYTES", {-1}});
  if (is_classifier(ctx)) {
    const auto labels = static_cast<int64_t>(ctx.model.info().labels.size());
    m.outputs.push_back({"logits", "FP32", {-1, labels}});
    m.outputs.push_back({"probabilities", "FP32", {-1, labels}});
  } else {
    m.outputs.push_back({"embedding", "FP32", {-1, ctx.model.info().hidden_size}});
  }
  return m;
}

void check_model(const ServeContext& ctx, std::string_view name, std::string_view version) {
  const auto names = model_aliases(ctx);
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw Error(ErrorKind::kNotFound, cat("unknown model \"", name, "\""));
  if (!version.empty() && version != kModelVersion)
    throw Error(ErrorKind::kNotFound,
                cat("unknown version \"", version, "\" of model \"", name, "\""));
}

void infer(const ServeContext& ctx, const Request& transport, Reply reply,
           const InferRequest& request, FormatOutputs format) {
  auto outputs = outputs_of(request, model_metadata(ctx));
  if (is_classifier(ctx)) {
    infer_classifier(ctx, transport, std::move(reply), request, std::move(outputs),
                     std::move(format));
  } else {
    infer_embedding(ctx, transport, std::move(reply), request, std::move(outputs),
                    std::move(format));
  }
}

}  // namespace ember::serve::kserve
