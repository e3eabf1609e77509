#include "serve/prompts.h"

namespace ember::serve {

Prompts Prompts::of(const ember::Model& model, const std::optional<std::string>& name,
                    const std::optional<std::string>& text) {
  Prompts p;
  p.model = &model;
  p.include_prompt = model.info().include_prompt;
  if (name) {
    (void)p.text_for(name);  // throws, naming the prompts, for a name the model does not have
    p.default_name = name;
  }
  if (text) p.default_text = text;
  return p;
}

std::string Prompts::text_for(const std::optional<std::string>& name) const {
  if (!name && default_text) return *default_text;
  if (model == nullptr) return std::string();
  ember::EmbedOptions o;
  o.prompt_name = name ? name : default_name;  // neither: the model's default prompt
  return model->prompt_text(o);
}

}  // namespace ember::serve
