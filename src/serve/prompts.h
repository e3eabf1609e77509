// The server's sentence-transformers prompts: the model's (ember::Model::prompt_text), with
// TEI's --default-prompt-name / --default-prompt in place of the model's default prompt.
#pragma once

#include <optional>
#include <string>

#include "ember/ember.h"

namespace ember::serve {

struct Prompts {
  const ember::Model* model = nullptr;
  std::optional<std::string> default_name;  // the server's, applied when a request names none
  std::optional<std::string> default_text;  // a default prompt's text itself; wins over it
  bool include_prompt = true;               // false: the prompt's tokens are not pooled

  // The model's prompts with the server's defaults: a name must be one of the prompts
  // (kInvalidInput otherwise); nullopt leaves the model's.
  static Prompts of(const ember::Model& model, const std::optional<std::string>& name,
                    const std::optional<std::string>& text);
  // The text for `name`; without a name, the default prompt's text ("" when none). Throws
  // kInvalidInput naming the prompts the model has when `name` is not one of them.
  std::string text_for(const std::optional<std::string>& name) const;
};

}  // namespace ember::serve
