// sentence-transformers prompts: config_sentence_transformers.json's "prompts" ({name: text})
// and "default_prompt_name", and the Pooling module's "include_prompt". A prompt's text is
// prepended to each input before tokenization, as SentenceTransformer.encode does.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ember::io {

struct PromptConfig {
  std::map<std::string, std::string> prompts;  // name -> text
  std::optional<std::string> default_name;     // applied when a request names no prompt
  // Pooling's include_prompt: false excludes the prompt's tokens (those of the prompt alone,
  // tokenized with special tokens, less a trailing special) from the pooled tokens.
  bool include_prompt = true;

  // The text for `name`; without a name, the default prompt's text ("" when none). Throws
  // kInvalidInput naming the prompts the model has when `name` is not one of them.
  std::string text_for(const std::optional<std::string>& name) const;
};

// Reads the model directory's config_sentence_transformers.json and Pooling config (absent
// files: no prompts, include_prompt true). Throws kInvalidInput for malformed files, or a
// default_prompt_name that is not one of the prompts.
PromptConfig load_prompt_config(const std::filesystem::path& model_dir);

// The pieces, on bytes (tests, fuzzing): config_sentence_transformers.json's text.
PromptConfig parse_prompt_config(std::string_view config_st_json, const std::string& origin);

}  // namespace ember::io
