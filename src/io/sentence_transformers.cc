#include "io/sentence_transformers.h"

#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ember::io {
namespace {

// "sentence_transformers.models.Pooling" -> "Pooling": the package path varies across
// releases (models.Pooling, sentence_transformers.models.Pooling), the class name does not.
std::string_view class_name(std::string_view type) {
  const size_t dot = type.rfind('.');
  return dot == std::string_view::npos ? type : type.substr(dot + 1);
}

struct ModeKey {
  const char* key;
  std::optional<PoolingMode> mode;  // nullopt: a mode sentence-transformers has, Ember not
};
constexpr ModeKey kModeKeys[] = {
    {"pooling_mode_cls_token", PoolingMode::kCls},
    {"pooling_mode_mean_tokens", PoolingMode::kMean},
    {"pooling_mode_max_tokens", PoolingMode::kMax},
    {"pooling_mode_mean_sqrt_len_tokens", PoolingMode::kMeanSqrtLen},
    {"pooling_mode_lasttoken", PoolingMode::kLastToken},
    {"pooling_mode_weightedmean_tokens", std::nullopt},
};

}  // namespace

const char* pooling_mode_name(PoolingMode mode) {
  switch (mode) {
    case PoolingMode::kCls:
      return "cls";
    case PoolingMode::kMean:
      return "mean";
    case PoolingMode::kMax:
      return "max";
    case PoolingMode::kMeanSqrtLen:
      return "mean_sqrt_len";
    case PoolingMode::kLastToken:
      return "lasttoken";
  }
  return "unknown";
}

std::vector<SentenceTransformersModule> parse_modules_json(std::string_view text,
                                                           const std::string& origin) {
  const nlohmann::json json = parse_json(text, origin);
  if (!json.is_array()) fail(ErrorKind::kInvalidInput, origin, ": must be a list of modules");
  std::vector<SentenceTransformersModule> modules;
  for (size_t i = 0; i < json.size(); ++i) {
    const std::string where = cat(origin, " (module ", i, ")");
    const JsonConfig entry = JsonConfig::from_json(json[i], where);
    SentenceTransformersModule m;
    m.type = entry.get_string("type");
    m.path = entry.get_string("path", "");
    m.name = entry.get_string("name", "");
    m.idx = entry.get_int("idx", static_cast<int64_t>(i));
    // The path is joined to the model directory: keep it inside.
    if (m.path.find("..") != std::string::npos || (!m.path.empty() && m.path[0] == '/'))
      fail(ErrorKind::kInvalidInput, where, ": path '", m.path, "' leaves the model directory");
    modules.push_back(std::move(m));
  }
  return modules;
}

namespace {

// sentence-transformers 6.x: "pooling_mode": "cls" (or a list of modes, concatenated; Ember
// runs one).
PoolingMode parse_pooling_mode_name(const nlohmann::json& value, const std::string& origin) {
  const nlohmann::json* v = &value;
  if (value.is_array()) {
    if (value.size() != 1)
      fail(ErrorKind::kUnsupported, origin, ": 'pooling_mode' concatenates ", value.size(),
           " modes; Ember runs exactly one");
    v = &value[0];
  }
  if (!v->is_string()) fail(ErrorKind::kInvalidInput, origin, ": 'pooling_mode' must be a string");
  const std::string name = v->get<std::string>();
  static constexpr std::pair<const char*, PoolingMode> kNames[] = {
      {"cls", PoolingMode::kCls},
      {"mean", PoolingMode::kMean},
      {"max", PoolingMode::kMax},
      {"mean_sqrt_len_tokens", PoolingMode::kMeanSqrtLen},
      {"lasttoken", PoolingMode::kLastToken},
  };
  for (const auto& [n, mode] : kNames)
    if (name == n) return mode;
  fail(ErrorKind::kUnsupported, origin, ": pooling_mode '", name,
       "' is not supported (cls, mean, max, mean_sqrt_len_tokens, lasttoken)");
}

}  // namespace

SpladeConfig parse_splade_config(const JsonConfig& config) {
  SpladeConfig c;
  const std::string strategy = config.get_string("pooling_strategy", "max");
  const std::string act = config.get_string("activation_function", "relu");
  EMBER_CHECK(strategy == "max" || strategy == "sum", ErrorKind::kUnsupported, config.origin(),
              ": pooling_strategy '", strategy, "' is not supported (max, sum)");
  EMBER_CHECK(act == "relu" || act == "log1p_relu", ErrorKind::kUnsupported, config.origin(),
              ": activation_function '", act, "' is not supported (relu, log1p_relu)");
  c.max = strategy == "max";
  c.double_log = act == "log1p_relu";
  return c;
}

PoolingMode parse_pooling_config(const JsonConfig& config) {
  // The current layout names the mode; the classic one sets one pooling_mode_* flag. As
  // sentence-transformers does, the name wins when both are there.
  if (config.has("pooling_mode"))
    return parse_pooling_mode_name(config.raw()["pooling_mode"], config.origin());
  std::optional<PoolingMode> chosen;
  std::vector<std::string> enabled;
  for (const ModeKey& k : kModeKeys) {
    if (!config.get_bool(k.key, false)) continue;
    enabled.push_back(k.key);
    if (!k.mode) fail(ErrorKind::kUnsupported, config.origin(), ": '", k.key, "' is not supported");
    chosen = k.mode;
  }
  if (enabled.size() != 1) {
    std::string list;
    for (const auto& e : enabled) list += (list.empty() ? "" : ", ") + e;
    fail(ErrorKind::kUnsupported, config.origin(),
         ": no 'pooling_mode', and exactly one pooling_mode_* must be true, found ", enabled.size(),
         enabled.empty() ? "" : cat(" (", list, ")"));
  }
  return *chosen;
}

std::optional<SentenceTransformersConfig> load_sentence_transformers(
    const std::filesystem::path& model_dir) {
  const auto modules_path = model_dir / "modules.json";
  if (!std::filesystem::exists(modules_path)) return std::nullopt;
  const std::string origin = modules_path.string();
  const auto modules = parse_modules_json(read_text_file(modules_path), origin);

  SentenceTransformersConfig st;
  bool has_transformer = false, has_pooling = false, fill_mask = false;
  for (const auto& m : modules) {
    const std::string_view cls = class_name(m.type);
    if (cls == "Transformer" || cls == "MLMTransformer") {
      has_transformer = true;
      fill_mask |= cls == "MLMTransformer";
    } else if (cls == "SpladePooling") {
      const auto path = model_dir / m.path / "config.json";
      st.splade = SpladeConfig{};
      if (std::filesystem::exists(path)) st.splade = parse_splade_config(JsonConfig::load(path));
      has_pooling = true;
    } else if (cls == "Pooling") {
      const auto pooling_path = model_dir / m.path / "config.json";
      if (!std::filesystem::exists(pooling_path))
        fail(ErrorKind::kInvalidInput, origin, ": module '", m.type, "' at '", m.path,
             "' has no config.json (", pooling_path.string(), ")");
      st.pooling = parse_pooling_config(JsonConfig::load(pooling_path));
      has_pooling = true;
    } else if (cls == "Normalize") {
      st.normalize = true;  // no files: the all-MiniLM-L6-v2 package has no 2_Normalize dir
    } else {
      fail(ErrorKind::kUnsupported, origin, ": module '", m.type, "' (", m.path,
           ") is not supported");
    }
  }
  if (!has_transformer)
    fail(ErrorKind::kUnsupported, origin, ": no sentence_transformers.models.Transformer module");
  if (!has_pooling)
    fail(ErrorKind::kUnsupported, origin, ": no sentence_transformers.models.Pooling module");

  const auto sbert_path = model_dir / "sentence_bert_config.json";
  if (std::filesystem::exists(sbert_path)) {
    const JsonConfig sbert = JsonConfig::load(sbert_path);
    if (sbert.has("max_seq_length")) {
      const int64_t n = sbert.get_positive_int("max_seq_length");
      if (n > INT32_MAX)
        fail(ErrorKind::kInvalidInput, sbert.origin(), ": 'max_seq_length' is too large");
      st.max_seq_length = static_cast<int>(n);
    }
    if (sbert.has("do_lower_case")) st.do_lower_case = sbert.get_bool("do_lower_case", false);
    fill_mask |= sbert.get_string("transformer_task", "") == "fill-mask";
  }
  if (st.splade && !fill_mask)
    fail(ErrorKind::kUnsupported, origin,
         ": SpladePooling needs a masked-LM transformer (MLMTransformer, or transformer_task "
         "\"fill-mask\")");
  return st;
}

}  // namespace ember::io
