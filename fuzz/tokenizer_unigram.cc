// libFuzzer: encode arbitrary bytes (single and pair) and decode with the SentencePiece-style
// fixtures: XLM-R (Precompiled charsmap, Metaspace, Unigram) and Llama-style (byte fallback,
// Replace/ByteFallback/Fuse/Strip decoders). Only ember::Error may escape; an offset outside
// the input is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

ember::tok::Tokenizer load(const char* name) {
  // CMake passes absolute source paths, so the fixture is found relative to this file.
  return ember::tok::Tokenizer::from_file(
      std::filesystem::path(__FILE__).parent_path().parent_path() / "tests" / "fixtures" /
      "tokenizers" / name);
}

void check(const ember::tok::Encoding& e, size_t len_a, size_t len_b) {
  for (size_t i = 0; i < e.size(); ++i) {
    const size_t len = e.sequence_ids[i] == 1 ? len_b : len_a;
    if (e.offsets[i].first > e.offsets[i].second || e.offsets[i].second > len) std::abort();
  }
}

void run(const ember::tok::Tokenizer& t, std::string_view text) {
  try {
    check(t.encode(text), text.size(), 0);
    const auto a = text.substr(0, text.size() / 2);
    const auto b = text.substr(text.size() / 2);
    check(t.encode_pair(a, b), a.size(), b.size());
    t.decode(t.encode(text, false).ids);
  } catch (const ember::Error&) {
    // Invalid UTF-8 and similar are expected.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ember::tok::Tokenizer xlmr = load("unigram-xlmr.json");
  static const ember::tok::Tokenizer llama = load("unigram-llama.json");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  run(xlmr, text);
  run(llama, text);
  return 0;
}
