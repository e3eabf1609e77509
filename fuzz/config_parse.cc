// libFuzzer: the JSON configuration readers on arbitrary bytes: JsonConfig::parse and every
// typed getter on every key, modules.json parsing, 1_Pooling/config.json parsing, and
// config_sentence_transformers.json's prompts (each prompt looked up by name).
// Only ember::Error may escape.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "io/json_config.h"
#include "io/prompts.h"
#include "io/sentence_transformers.h"

namespace {

template <typename Fn>
void guarded(Fn&& fn) {
  try {
    fn();
  } catch (const ember::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  guarded([&] {
    const auto config = ember::io::JsonConfig::parse(text, "config.json");
    for (const auto& item : config.raw().items()) {
      const std::string& key = item.key();
      guarded([&] { config.get_int(key); });
      guarded([&] { config.get_positive_int(key, 1); });
      guarded([&] { config.get_double(key); });
      guarded([&] { config.get_bool(key, false); });
      guarded([&] { config.get_string(key); });
      guarded([&] { config.get_string_list(key); });
    }
    guarded([&] { ember::io::parse_pooling_config(config); });
  });
  guarded([&] { ember::io::parse_modules_json(text, "modules.json"); });
  guarded([&] {
    const auto prompts = ember::io::parse_prompt_config(text, "config_sentence_transformers.json");
    (void)prompts.text_for(std::nullopt);
    for (const auto& entry : prompts.prompts) (void)prompts.text_for(entry.first);
    guarded([&] { (void)prompts.text_for("not-a-prompt-name"); });
  });
  return 0;
}
