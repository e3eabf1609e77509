#include "io/prompts.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_config.h"
#include "io/sentence_transformers.h"

namespace ember::io {

std::string PromptConfig::text_for(const std::optional<std::string>& name) const {
  if (!name) return default_name ? prompts.at(*default_name) : std::string();
  const auto it = prompts.find(*name);
  if (it != prompts.end()) return it->second;
  std::string names;
  for (const auto& [n, text] : prompts) names += (names.empty() ? "" : ", ") + n;
  fail(ErrorKind::kInvalidInput, "prompt_name '", *name, "' is not one of the model's prompts",
       prompts.empty() ? std::string(" (it defines none)") : cat(" (", names, ")"));
}

PromptConfig parse_prompt_config(std::string_view config_st_json, const std::string& origin) {
  const nlohmann::json j = parse_json(config_st_json, origin);
  if (!j.is_object()) fail(ErrorKind::kInvalidInput, origin, ": must be a JSON object");
  PromptConfig c;
  if (const auto p = j.find("prompts"); p != j.end() && !p->is_null()) {
    if (!p->is_object())
      fail(ErrorKind::kInvalidInput, origin, ": 'prompts' must be an object of strings");
    for (const auto& [name, text] : p->items()) {
      if (!text.is_string())
        fail(ErrorKind::kInvalidInput, origin, ": prompts['", name, "'] must be a string");
      c.prompts[name] = text.get<std::string>();
    }
  }
  if (const auto d = j.find("default_prompt_name"); d != j.end() && !d->is_null()) {
    if (!d->is_string())
      fail(ErrorKind::kInvalidInput, origin, ": 'default_prompt_name' must be a string or null");
    c.default_name = d->get<std::string>();
    if (!c.prompts.count(*c.default_name))
      fail(ErrorKind::kInvalidInput, origin, ": default_prompt_name '", *c.default_name,
           "' is not one of its prompts");
  }
  return c;
}

PromptConfig load_prompt_config(const std::filesystem::path& model_dir) {
  PromptConfig c;
  const auto st_path = model_dir / "config_sentence_transformers.json";
  if (std::filesystem::exists(st_path))
    c = parse_prompt_config(read_text_file(st_path), st_path.string());
  const auto modules_path = model_dir / "modules.json";
  if (!std::filesystem::exists(modules_path)) return c;
  for (const auto& m : parse_modules_json(read_text_file(modules_path), modules_path.string())) {
    if (m.type.size() < 7 || m.type.compare(m.type.size() - 7, 7, "Pooling") != 0) continue;
    const auto pooling_path = model_dir / m.path / "config.json";
    if (std::filesystem::exists(pooling_path))
      c.include_prompt = JsonConfig::load(pooling_path).get_bool("include_prompt", true);
  }
  return c;
}

}  // namespace ember::io
