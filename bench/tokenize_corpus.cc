// Tokenizes a corpus (one input per line, split on '\n' only) with Ember's tokenizer.
//
//   bench_tokenize_corpus --dump TOKENIZER.json CORPUS OUT.jsonl [--decode]
//       one JSON object per line: ids, type_ids, special_tokens_mask, offsets (code points, as
//       the Python `tokenizers` binding reports them); with --decode also "decoded"
//       (decode(ids, skip_special_tokens=true)); {"error": "..."} where encode throws.
//   bench_tokenize_corpus --bench TOKENIZER.json CORPUS [--seconds N]
//       single-thread encode throughput over the whole corpus, repeated for at least N
//       seconds (default 3); one JSON object on stdout: tokens/s, MB/s, lines/s.
//   bench_tokenize_corpus --check-gpt2 CORPUS
//       the hand-written GPT-2 pattern matcher against the regex engine on every line; prints
//       {"lines": N, "mismatches": M}.
//   bench_tokenize_corpus --gpt2-classes
//       the GPT-2 matcher's class of every code point (0 letter 1 number 2 space 3 other).
// --dump and --bench encode with add_special_tokens=true and the truncation of the tokenizer.json.
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/gpt2_scanner.h"
#include "tokenizer/pattern.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace {

using ember::tok::Encoding;
using ember::tok::Tokenizer;

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ember::fail(ember::ErrorKind::kNotFound, "cannot open corpus ", path);
  std::ostringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.emplace_back(text, start, end - start);
    start = end + 1;
  }
  return lines;
}

void append_json_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

template <typename T>
void append_array(std::string& out, const char* key, const std::vector<T>& v) {
  out += '"';
  out += key;
  out += "\":[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(static_cast<long long>(v[i]));
  }
  out += ']';
}

int dump(const Tokenizer& tok, const std::vector<std::string>& lines, const std::string& out_path,
         bool with_decode) {
  std::ofstream out(out_path, std::ios::binary);
  if (!out) ember::fail(ember::ErrorKind::kInvalidInput, "cannot write ", out_path);
  std::string row;
  for (const std::string& line : lines) {
    row.clear();
    row += '{';
    try {
      const Encoding e = tok.encode(line);
      append_array(row, "ids", e.ids);
      row += ',';
      append_array(row, "type_ids", e.type_ids);
      row += ',';
      append_array(row, "special_tokens_mask", e.special_tokens_mask);
      row += ",\"offsets\":[";
      for (size_t i = 0; i < e.char_offsets.size(); ++i) {
        if (i) row += ',';
        row += '[' + std::to_string(e.char_offsets[i].first) + ',' +
               std::to_string(e.char_offsets[i].second) + ']';
      }
      row += ']';
      if (with_decode) {
        row += ",\"decoded\":";
        append_json_string(row, tok.decode(e.ids, true));
      }
    } catch (const ember::Error& err) {
      row += "\"error\":";
      append_json_string(row, err.what());
    }
    row += "}\n";
    out << row;
  }
  return out.good() ? 0 : 1;
}

int bench(const Tokenizer& tok, const std::vector<std::string>& lines, double seconds) {
  size_t bytes_per_pass = 0;
  for (const std::string& line : lines) bytes_per_pass += line.size();
  for (const std::string& line : lines) (void)tok.encode(line);  // warm-up pass
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  size_t tokens = 0;
  size_t passes = 0;
  double elapsed = 0;
  do {
    for (const std::string& line : lines) tokens += tok.encode(line).size();
    ++passes;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < seconds);
  const double mb = static_cast<double>(bytes_per_pass * passes) / 1e6;
  std::printf(
      "{\"lines\":%zu,\"bytes_per_pass\":%zu,\"passes\":%zu,\"seconds\":%.4f,\"tokens\":%zu,"
      "\"tokens_per_s\":%.1f,\"mb_per_s\":%.3f,\"lines_per_s\":%.1f}\n",
      lines.size(), bytes_per_pass, passes, elapsed, tokens, static_cast<double>(tokens) / elapsed,
      mb / elapsed, static_cast<double>(lines.size() * passes) / elapsed);
  return 0;
}

// The GPT-2 matcher against the regex engine on every line (and the line after a space, as
// ByteLevel's add_prefix_space gives it): prints the number of lines where they differ. The
// regex has the scanner's newer \p{L}/\p{N} (gpt2_reference_pattern(), which checks that they
// differ from Oniguruma's only on code points Oniguruma does not know).
int check_gpt2(const std::vector<std::string>& lines) {
  const auto regex = ember::tok::Regex::compile(ember::tok::gpt2_reference_pattern());
  size_t mismatches = 0;
  for (const std::string& line : lines) {
    for (const std::string& text : {line, " " + line}) {
      const auto want = ember::tok::find_matches(regex, text);
      const auto got = ember::tok::gpt2_matches(text);
      bool same = want.size() == got.size();
      for (size_t i = 0; same && i < want.size(); ++i) {
        same = want[i].begin == got[i].begin && want[i].end == got[i].end &&
               want[i].is_match == got[i].is_match;
      }
      if (!same && mismatches++ < 5) std::cerr << "gpt2 mismatch: " << text << "\n";
    }
  }
  std::printf("{\"lines\":%zu,\"mismatches\":%zu}\n", lines.size(), mismatches);
  return 0;
}

// The GPT-2 scanner's class of every code point (surrogates skipped), one digit each
// (ember::tok::Gpt2Class: 0 letter, 1 number, 2 space, 3 other), for the library comparison
// in tests/tokenizer_parity/test_newer_unicode_parity.py.
int gpt2_classes() {
  std::string out;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    out += static_cast<char>('0' + static_cast<int>(ember::tok::gpt2_class(c)));
  }
  std::cout << out << "\n";
  return 0;
}

int usage() {
  std::cerr << "usage: bench_tokenize_corpus --dump TOKENIZER.json CORPUS OUT.jsonl [--decode]\n"
               "       bench_tokenize_corpus --bench TOKENIZER.json CORPUS [--seconds N]\n"
               "       bench_tokenize_corpus --check-gpt2 CORPUS\n"
               "       bench_tokenize_corpus --gpt2-classes\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() >= 4 && args[0] == "--dump") {
      const bool with_decode = args.size() == 5 && args[4] == "--decode";
      if (args.size() > 5 || (args.size() == 5 && !with_decode)) return usage();
      const Tokenizer tok = Tokenizer::from_file(args[1]);
      return dump(tok, read_lines(args[2]), args[3], with_decode);
    }
    if (args.size() >= 3 && args[0] == "--bench") {
      double seconds = 3;
      if (args.size() == 5 && args[3] == "--seconds") {
        seconds = std::stod(args[4]);
      } else if (args.size() != 3) {
        return usage();
      }
      const Tokenizer tok = Tokenizer::from_file(args[1]);
      return bench(tok, read_lines(args[2]), seconds);
    }
    if (args.size() == 2 && args[0] == "--check-gpt2") return check_gpt2(read_lines(args[1]));
    if (args.size() == 1 && args[0] == "--gpt2-classes") return gpt2_classes();
    return usage();
  } catch (const std::exception& e) {
    std::cerr << "bench_tokenize_corpus: " << e.what() << "\n";
    return 1;
  }
}
