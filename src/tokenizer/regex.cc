#include "tokenizer/regex.h"

#include <oniguruma.h>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace ember::tok {

struct Regex::Compiled {
  OnigRegex regex = nullptr;
  ~Compiled() {
    if (regex) onig_free(regex);
  }
};

namespace {

void initialize_once() {
  static const bool done = [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
    return true;
  }();
  (void)done;
}

const OnigUChar* bytes(std::string_view s) {
  return reinterpret_cast<const OnigUChar*>(s.data());
}

struct RegionDeleter {
  void operator()(OnigRegion* r) const { onig_region_free(r, 1); }
};

}  // namespace

Regex Regex::compile(std::string_view pattern) {
  initialize_once();
  auto c = std::make_shared<Compiled>();
  OnigErrorInfo info{};
  const int r = onig_new(&c->regex, bytes(pattern), bytes(pattern) + pattern.size(),
                         ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
  if (r != ONIG_NORMAL) {
    OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN] = {};
    onig_error_code_to_str(message, r, &info);
    c->regex = nullptr;
    fail(ErrorKind::kInvalidInput, "tokenizer.json: invalid regex '", pattern,
         "': ", reinterpret_cast<const char*>(message));
  }
  return Regex(std::move(c), std::string(pattern));
}

std::string Regex::escape(std::string_view literal) {
  static constexpr std::string_view kMeta = "\\.+*?()|[]{}^$#&-~";
  std::string out;
  out.reserve(literal.size() * 2);
  for (char ch : literal) {
    if (kMeta.find(ch) != std::string_view::npos) out += '\\';
    out += ch;
  }
  return out;
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  std::unique_ptr<OnigRegion, RegionDeleter> region(onig_region_new());
  const OnigUChar* begin = bytes(text);
  const OnigUChar* end = begin + text.size();
  size_t last_end = 0;
  bool has_last = false;
  size_t last_match_end = 0;
  while (last_end <= text.size()) {
    onig_region_clear(region.get());
    const int r = onig_search(compiled_->regex, begin, end, begin + last_end, end, region.get(),
                              ONIG_OPTION_NONE);
    if (r == ONIG_MISMATCH) break;
    EMBER_CHECK(r >= 0, ErrorKind::kInternal, "regex search failed for '", pattern_,
                "' (Oniguruma error ", r, ")");
    const auto s = static_cast<size_t>(region->beg[0]);
    const auto e = static_cast<size_t>(region->end[0]);
    if (s == e && has_last && last_match_end == e) {
      last_end += last_end < text.size() ? utf8_len(static_cast<unsigned char>(text[last_end])) : 1;
      continue;
    }
    last_end = e;
    last_match_end = e;
    has_last = true;
    out.emplace_back(s, e);
  }
  return out;
}

}  // namespace ember::tok
