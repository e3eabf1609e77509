#include "serve/prompts.h"

#include "core/error.h"

namespace ember::serve {

Prompts Prompts::of(const ember::ModelInfo& info, const std::optional<std::string>& name,
                    const std::optional<std::string>& text) {
  Prompts p;
  p.prompts = info.prompts;
  if (!info.default_prompt_name.empty()) p.default_name = info.default_prompt_name;
  p.include_prompt = info.include_prompt;
  if (name) {
    (void)p.text_for(name);  // throws, naming the prompts, for a name the model does not have
    p.default_name = name;
  }
  if (text) p.default_text = text;
  return p;
}

std::string Prompts::text_for(const std::optional<std::string>& name) const {
  if (!name && default_text) return *default_text;
  if (!name) return default_name ? prompts.at(*default_name) : std::string();
  const auto it = prompts.find(*name);
  if (it != prompts.end()) return it->second;
  std::string names;
  for (const auto& [n, text] : prompts) names += (names.empty() ? "" : ", ") + n;
  fail(ErrorKind::kInvalidInput, "prompt_name '", *name, "' is not one of the model's prompts",
       prompts.empty() ? std::string(" (it defines none)") : cat(" (", names, ")"));
}

}  // namespace ember::serve
