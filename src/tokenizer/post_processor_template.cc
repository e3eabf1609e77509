// TemplateProcessing ("[CLS] $A [SEP]" / "[CLS] $A [SEP] $B:1 [SEP]:1") and BertProcessing,
// which is the same template with fixed pieces.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/encoding_ops.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/post_processor.h"

namespace ember::tok {
namespace {

using namespace json_fields;
constexpr std::string_view kWhat = "post_processor";

class TemplateProcessing final : public PostProcessor {
 public:
  TemplateProcessing(std::vector<TemplatePiece> single, std::vector<TemplatePiece> pair,
                     std::map<std::string, TemplateSpecialToken> specials)
      : single_(std::move(single)), pair_(std::move(pair)), specials_(std::move(specials)) {
    for (const auto* t : {&single_, &pair_}) {
      for (const auto& p : *t) {
        if (!p.is_sequence && !specials_.count(p.special_id)) {
          malformed(kWhat, cat("template uses special token '", p.special_id,
                               "' that is not in special_tokens"));
        }
      }
    }
    added_single_ = count_added(single_);
    added_pair_ = count_added(pair_);
  }

  size_t added_tokens(bool pair) const override { return pair ? added_pair_ : added_single_; }

  std::optional<int32_t> max_special_id() const override {
    std::optional<int32_t> best;
    for (const auto* t : {&single_, &pair_}) {
      for (const auto& p : *t) {
        if (p.is_sequence) continue;
        for (int32_t id : specials_.at(p.special_id).ids) {
          if (!best || id > *best) best = id;
        }
      }
    }
    return best;
  }

  Encoding process(std::vector<Encoding> encodings, bool add_special_tokens) const override {
    for (size_t i = 0; i < encodings.size(); ++i) {
      Encoding& e = encodings[i];
      set_sequence_id(e, static_cast<int32_t>(i));
      std::fill(e.type_ids.begin(), e.type_ids.end(), static_cast<int32_t>(i));
    }
    const auto& pieces = encodings.size() == 2 ? pair_ : single_;
    Encoding out;
    reserve(out, encodings,
            add_special_tokens ? (encodings.size() == 2 ? added_pair_ : added_single_) : 0);
    for (size_t k = 0; k < pieces.size(); ++k) {
      const TemplatePiece& p = pieces[k];
      if (p.is_sequence) {
        const size_t i = static_cast<size_t>(p.sequence);
        EMBER_CHECK(i < encodings.size(), ErrorKind::kInvalidInput,
                    "tokenizer.json: template uses $B for a single sequence");
        Encoding& e = encodings[i];
        // Only the main piece takes the template's type id; overflowing ones keep theirs.
        std::fill(e.type_ids.begin(), e.type_ids.end(), p.type_id);
        // Moved unless a later piece names the same sequence again.
        const bool used_again = std::any_of(
            pieces.begin() + static_cast<std::ptrdiff_t>(k) + 1, pieces.end(),
            [&](const TemplatePiece& q) { return q.is_sequence && q.sequence == p.sequence; });
        if (used_again) {
          merge_into(out, e);
        } else {
          merge_into(out, std::move(e));
        }
      } else if (add_special_tokens) {
        merge_into(out, special_encoding(specials_.at(p.special_id), p.type_id));
      }
    }
    return out;
  }

 private:
  // Room for the whole result up front (no overflow: merging only appends), instead of
  // growing every field as the pieces are appended.
  static void reserve(Encoding& out, const std::vector<Encoding>& encodings, size_t n) {
    for (const Encoding& e : encodings) {
      if (!e.overflowing.empty()) return;
      n += e.size();
    }
    out.ids.reserve(n);
    out.type_ids.reserve(n);
    out.tokens.reserve(n);
    out.special_tokens_mask.reserve(n);
    out.offsets.reserve(n);
    out.char_offsets.reserve(n);
    out.sequence_ids.reserve(n);
    out.word_ids.reserve(n);
  }

  size_t count_added(const std::vector<TemplatePiece>& t) const {
    size_t n = 0;
    for (const auto& p : t) {
      if (!p.is_sequence) n += specials_.at(p.special_id).ids.size();
    }
    return n;
  }

  static Encoding special_encoding(const TemplateSpecialToken& s, int32_t type_id) {
    Encoding e;
    const size_t n = s.ids.size();
    e.ids = s.ids;
    e.tokens = s.tokens;
    e.type_ids.assign(n, type_id);
    e.special_tokens_mask.assign(n, 1);
    e.offsets.assign(n, {0, 0});
    e.char_offsets.assign(n, {0, 0});
    e.sequence_ids.assign(n, -1);
    e.word_ids.assign(n, -1);
    return e;
  }

  std::vector<TemplatePiece> single_, pair_;
  std::map<std::string, TemplateSpecialToken> specials_;
  size_t added_single_ = 0, added_pair_ = 0;
};

std::vector<TemplatePiece> read_template(const nlohmann::json& j, const char* key) {
  std::vector<TemplatePiece> out;
  for (const auto& item : get_array(j, kWhat, key)) {
    if (!item.is_object() || item.size() != 1) malformed(kWhat, "bad template piece");
    const std::string kind = item.begin().key();
    const nlohmann::json& body = item.begin().value();
    TemplatePiece p;
    p.type_id = static_cast<int32_t>(get_uint(body, kWhat, "type_id", 0));
    const std::string id = get_string(body, kWhat, "id", "");
    if (kind == "Sequence") {
      if (id != "A" && id != "B") malformed(kWhat, cat("bad sequence id '", id, "'"));
      p.is_sequence = true;
      p.sequence = id == "A" ? 0 : 1;
    } else if (kind == "SpecialToken") {
      p.special_id = id;
    } else {
      malformed(kWhat, cat("bad template piece '", kind, "'"));
    }
    out.push_back(std::move(p));
  }
  return out;
}

// BertProcessing stores ["[SEP]", 102] pairs.
TemplateSpecialToken read_pair(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_string() ||
      !(*it)[1].is_number_unsigned()) {
    malformed(kWhat, cat("field '", key, "' must be [token, id]"));
  }
  const std::string token = (*it)[0].get<std::string>();
  return {{token_id((*it)[1], kWhat, token)}, {token}};
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, kWhat);
  if (type == "TemplateProcessing") {
    std::map<std::string, TemplateSpecialToken> specials;
    const auto it = j.find("special_tokens");
    if (it != j.end() && !it->is_null()) {
      if (!it->is_object()) malformed(kWhat, "field 'special_tokens' must be an object");
      for (const auto& [name, body] : it->items()) {
        TemplateSpecialToken s;
        for (const auto& id : get_array(body, kWhat, "ids"))
          s.ids.push_back(token_id(id, kWhat, name));
        for (const auto& t : get_array(body, kWhat, "tokens")) {
          if (!t.is_string()) malformed(kWhat, "special token strings must be strings");
          s.tokens.push_back(t.get<std::string>());
        }
        if (s.ids.size() != s.tokens.size()) malformed(kWhat, "special token ids != tokens");
        specials.emplace(name, std::move(s));
      }
    }
    return std::make_unique<TemplateProcessing>(read_template(j, "single"),
                                                read_template(j, "pair"), std::move(specials));
  }
  if (type == "BertProcessing") {
    std::map<std::string, TemplateSpecialToken> specials{{"cls", read_pair(j, "cls")},
                                                         {"sep", read_pair(j, "sep")}};
    auto seq = [](int s, int32_t t) { return TemplatePiece{true, s, "", t}; };
    auto spec = [](const char* id, int32_t t) { return TemplatePiece{false, 0, id, t}; };
    return std::make_unique<TemplateProcessing>(
        std::vector{spec("cls", 0), seq(0, 0), spec("sep", 0)},
        std::vector{spec("cls", 0), seq(0, 0), spec("sep", 0), seq(1, 1), spec("sep", 1)},
        std::move(specials));
  }
  if (type == "RobertaProcessing") return make_roberta_processing(j);
  if (type == "ByteLevel") return make_byte_level_post_processor(j);
  if (type == "Sequence") return make_sequence_post_processor(j);
  unsupported(kWhat, type);
}

}  // namespace ember::tok
