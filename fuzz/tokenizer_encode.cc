// libFuzzer: encode arbitrary bytes (single and pair) with the bert-base-uncased tokenizer.
// Only ember::Error may escape encode(); anything else (another exception, a sanitizer
// report, an offset outside the input) is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

const ember::tok::Tokenizer& tokenizer() {
  // CMake passes absolute source paths, so the fixture is found relative to this file.
  static const ember::tok::Tokenizer t = ember::tok::Tokenizer::from_file(
      std::filesystem::path(__FILE__).parent_path().parent_path() / "tests" / "fixtures" /
      "tokenizers" / "bert-base-uncased.json");
  return t;
}

void check(const ember::tok::Encoding& e, size_t len_a, size_t len_b) {
  for (size_t i = 0; i < e.size(); ++i) {
    const size_t len = e.sequence_ids[i] == 1 ? len_b : len_a;
    if (e.offsets[i].first > e.offsets[i].second || e.offsets[i].second > len) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    check(tokenizer().encode(text), text.size(), 0);
    const size_t cut = size / 2;
    const auto a = text.substr(0, cut);
    const auto b = text.substr(cut);
    check(tokenizer().encode_pair(a, b), a.size(), b.size());
    tokenizer().decode(tokenizer().encode(text, false).ids);
  } catch (const ember::Error&) {
    // Invalid UTF-8 and similar are expected.
  }
  return 0;
}
