// libFuzzer: encode arbitrary bytes (single and pair) with both byte-level BPE fixtures
// (RoBERTa layout and Split regex + TemplateProcessing) and decode the result. Only
// ember::Error may escape; an offset outside the input, an offset pair out of order, or a
// decode of valid input that is not the input itself is a crash. So is a difference between
// the hand-written GPT-2 pattern matcher and the regex engine on valid UTF-8 (with the
// scanner's Unicode classes, see gpt2_reference_pattern()).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"
#include "tokenizer/gpt2_scanner.h"
#include "tokenizer/pattern.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

ember::tok::Tokenizer load(const char* name) {
  // CMake passes absolute source paths, so the fixture is found relative to this file.
  return ember::tok::Tokenizer::from_file(
      std::filesystem::path(__FILE__).parent_path().parent_path() / "tests" / "fixtures" /
      "tokenizers" / name);
}

const ember::tok::Tokenizer& tokenizer(size_t i) {
  static const ember::tok::Tokenizer roberta = load("bpe-byte-level.json");
  static const ember::tok::Tokenizer split = load("bpe-split-regex.json");
  return i == 0 ? roberta : split;
}

void check(const ember::tok::Encoding& e, size_t len_a, size_t len_b) {
  for (size_t i = 0; i < e.size(); ++i) {
    const size_t len = e.sequence_ids[i] == 1 ? len_b : len_a;
    if (e.offsets[i].first > e.offsets[i].second || e.offsets[i].second > len) std::abort();
    if (e.char_offsets[i].first > e.char_offsets[i].second) std::abort();
  }
}

void check_gpt2_matcher(std::string_view text) {
  try {
    ember::tok::validate_utf8(text);
  } catch (const ember::Error&) {
    return;
  }
  // The pattern with the scanner's newer \p{L}/\p{N}: they may differ from Debian's Oniguruma
  // only on code points it does not know (checked when the pattern is built).
  static const auto regex = ember::tok::Regex::compile(ember::tok::gpt2_reference_pattern());
  const auto want = ember::tok::find_matches(regex, text);
  const auto got = ember::tok::gpt2_matches(text);
  if (want.size() != got.size()) std::abort();
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].begin != got[i].begin || want[i].end != got[i].end) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_gpt2_matcher(text);
  for (size_t t = 0; t < 2; ++t) {
    const auto& tok = tokenizer(t);
    try {
      check(tok.encode(text), text.size(), 0);
      // Byte-level BPE is lossless on text without special-token strings.
      const std::string decoded = tok.decode(tok.encode(text, false).ids, false);
      if (text.find('<') == std::string_view::npos && decoded != text) std::abort();
    } catch (const ember::Error&) {
      // Invalid UTF-8 is expected.
    }
    try {
      const size_t cut = size / 2;
      const auto a = text.substr(0, cut);
      const auto b = text.substr(cut);
      check(tok.encode_pair(a, b), a.size(), b.size());
    } catch (const ember::Error&) {
      // So is a cut inside a character.
    }
  }
  return 0;
}
