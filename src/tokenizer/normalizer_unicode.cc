// The small normalizers (Unicode forms, case, accents, strip, sequence) and the JSON factory.
#include <utf8proc.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/unicode_quirks.h"

namespace ember::tok {
namespace {

using namespace json_fields;

enum class Form { kNfd, kNfkd, kNfc, kNfkc };

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(Form f) : form_(f) {}
  void normalize(NormalizedString& s) const override {
    switch (form_) {
      case Form::kNfd:
        return s.nfd();
      case Form::kNfkd:
        return s.nfkd();
      case Form::kNfc:
        return s.nfc();
      case Form::kNfkc:
        return s.nfkc();
    }
  }

 private:
  Form form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override { s.lowercase(); }
};

// The library drops every combining mark (Mn, Mc, Me, in its older tables) here, without
// decomposing first.
class StripAccents final : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.filter([](char32_t c) {
      const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      const bool mark =
          cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
      return mark ? quirks::combining_mark_unknown_to_library(c)
                  : !quirks::combining_mark_only_in_library(c);
    });
  }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& s) const override { s.strip(left_, right_); }

 private:
  bool left_, right_;
};

// Nmt (SentencePiece's NMT cleaning): drops C0/C1 controls except tab/newlines/form feed and
// maps those, a few format and separator characters and U+FFFD to a space.
class Nmt final : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.filter([](char32_t c) {
      return !((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
               c == 0x8F || c == 0x9F);
    });
    s.map([](char32_t c) {
      const bool space = c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
                         (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 ||
                         c == 0x2581 || c == 0xFEFF || c == 0xFFFD;
      return space ? U' ' : c;
    });
  }
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(NormalizedString& s) const override {
    for (const auto& n : items_) n->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  constexpr std::string_view kWhat = "normalizer";
  const std::string type = type_of(j, kWhat);
  if (type == "BertNormalizer") {
    BertNormalizerOptions o;
    o.clean_text = get_bool(j, kWhat, "clean_text", true);
    o.handle_chinese_chars = get_bool(j, kWhat, "handle_chinese_chars", true);
    o.lowercase = get_bool(j, kWhat, "lowercase", true);
    const auto it = j.find("strip_accents");
    if (it != j.end() && !it->is_null())
      o.strip_accents = get_bool(j, kWhat, "strip_accents", false);
    return make_bert_normalizer(o);
  }
  if (type == "NFD") return std::make_unique<UnicodeForm>(Form::kNfd);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(Form::kNfkd);
  if (type == "NFC") return std::make_unique<UnicodeForm>(Form::kNfc);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(Form::kNfkc);
  if (type == "Nmt") return std::make_unique<Nmt>();
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Strip") {
    return std::make_unique<Strip>(get_bool(j, kWhat, "strip_left", true),
                                   get_bool(j, kWhat, "strip_right", true));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> items;
    for (const auto& item : get_array(j, kWhat, "normalizers")) {
      if (auto n = make_normalizer(item)) items.push_back(std::move(n));
    }
    return std::make_unique<Sequence>(std::move(items));
  }
  if (auto n = make_spm_normalizer(j, type)) return n;
  unsupported(kWhat, type);
}

}  // namespace ember::tok
