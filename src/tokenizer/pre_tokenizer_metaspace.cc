// Metaspace (spaces become "▁", optionally prepended, then split before each "▁"), and the
// small splitters SentencePiece-era tokenizers combine with it: Punctuation and Digits.
#include <utf8proc.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_props.h"

namespace ember::tok {
namespace {

using namespace json_fields;

class Metaspace final : public PreTokenizer {
 public:
  explicit Metaspace(const MetaspaceOptions& o) : o_(o) { append_utf8(rep_, o.replacement); }

  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_text([&](NormalizedString&& n) {
      std::vector<std::pair<size_t, size_t>> spaces;
      const std::string& t = n.get();
      for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == ' ') spaces.emplace_back(i, i + 1);
      }
      n.replace_ranges(spaces, rep_);
      const bool prepend = o_.prepend == PrependScheme::kAlways ||
                           (o_.prepend == PrependScheme::kFirst && n.offsets_original().first == 0);
      if (prepend && !n.empty() && !n.get().starts_with(rep_)) {
        n.expand([&](char32_t c, size_t pos, std::u32string& out) {
          if (pos == 0) out += o_.replacement;
          out += c;
        });
      }
      std::vector<NormalizedString> out;
      if (!o_.split) {
        out.push_back(std::move(n));
        return out;
      }
      const char32_t r = o_.replacement;
      return n.split(n.find_chars([r](char32_t c) { return c == r; }),
                     SplitBehavior::kMergedWithNext);
    });
  }

 private:
  MetaspaceOptions o_;
  std::string rep_;
};

// Rust char::is_numeric: general categories Nd, Nl, No.
bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

template <typename Pred>
class CharSplit final : public PreTokenizer {
 public:
  CharSplit(Pred pred, SplitBehavior behavior) : pred_(pred), behavior_(behavior) {}
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_text([&](NormalizedString&& n) { return n.split(n.find_chars(pred_), behavior_); });
  }

 private:
  Pred pred_;
  SplitBehavior behavior_;
};

template <typename Pred>
std::unique_ptr<PreTokenizer> char_split(Pred pred, SplitBehavior behavior) {
  return std::make_unique<CharSplit<Pred>>(pred, behavior);
}

}  // namespace

MetaspaceOptions read_metaspace_options(const nlohmann::json& j, std::string_view what) {
  MetaspaceOptions o;
  const std::string rep = get_string(j, what, "replacement", "");
  if (rep.empty() || count_code_points(rep) != 1) {
    malformed(what, "field 'replacement' must be one character");
  }
  size_t i = 0;
  o.replacement = decode_utf8(rep, i);
  const std::string scheme = get_string(j, what, "prepend_scheme", "always");
  if (scheme == "always") {
    o.prepend = PrependScheme::kAlways;
  } else if (scheme == "first") {
    o.prepend = PrependScheme::kFirst;
  } else if (scheme == "never") {
    o.prepend = PrependScheme::kNever;
  } else {
    malformed(what, cat("unknown prepend_scheme '", scheme, "'"));
  }
  // The legacy flag: false only agrees with "never" (the library refuses the rest).
  if (!get_bool(j, what, "add_prefix_space", true)) {
    if (o.prepend != PrependScheme::kNever) {
      malformed(what, "add_prefix_space does not match declared prepend_scheme");
    }
  }
  o.split = get_bool(j, what, "split", true);
  return o;
}

std::unique_ptr<PreTokenizer> make_spm_pre_tokenizer(const nlohmann::json& j,
                                                     const std::string& type) {
  constexpr std::string_view kWhat = "pre_tokenizer";
  if (type == "Metaspace") return std::make_unique<Metaspace>(read_metaspace_options(j, kWhat));
  if (type == "Punctuation") {
    const SplitBehavior b =
        j.contains("behavior") ? read_split_behavior(j, kWhat) : SplitBehavior::kIsolated;
    return char_split(is_bert_punctuation, b);
  }
  if (type == "Digits") {
    const bool individual = get_bool(j, kWhat, "individual_digits", false);
    return char_split(is_numeric,
                      individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }
  return nullptr;
}

}  // namespace ember::tok
