// RobertaProcessing: "<s> A </s>" and "<s> A </s></s> B </s>", every type id 0, and the
// byte-level offset trimming (trim_offsets, add_prefix_space) before the specials go in.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/post_processor.h"

namespace ember::tok {
namespace {

using namespace json_fields;
constexpr std::string_view kWhat = "post_processor";

struct SpecialToken {
  std::string token;
  int32_t id = 0;
};

SpecialToken read_special(const nlohmann::json& j, const char* key, const char* token, int32_t id) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {token, id};
  if (!it->is_array() || it->size() != 2 || !(*it)[0].is_string() ||
      !(*it)[1].is_number_unsigned()) {
    malformed(kWhat, cat("field '", key, "' must be [token, id]"));
  }
  std::string name = (*it)[0].get<std::string>();
  const int32_t read = token_id((*it)[1], kWhat, name);
  return {std::move(name), read};
}

// `first` + e + `last`, the specials with (0, 0) offsets, no word and no sequence.
void wrap(Encoding& e, const SpecialToken& first, const SpecialToken& last) {
  auto around = [](auto& v, auto a, auto b) {
    v.insert(v.begin(), a);
    v.push_back(b);
  };
  around(e.ids, first.id, last.id);
  around(e.tokens, first.token, last.token);
  e.type_ids.assign(e.ids.size(), 0);
  around(e.special_tokens_mask, uint8_t{1}, uint8_t{1});
  around(e.offsets, std::pair<size_t, size_t>{0, 0}, std::pair<size_t, size_t>{0, 0});
  around(e.char_offsets, std::pair<size_t, size_t>{0, 0}, std::pair<size_t, size_t>{0, 0});
  around(e.sequence_ids, -1, -1);
  around(e.word_ids, -1, -1);
}

class RobertaProcessing final : public PostProcessor {
 public:
  RobertaProcessing(SpecialToken sep, SpecialToken cls, bool trim_offsets, bool add_prefix_space)
      : sep_(std::move(sep)),
        cls_(std::move(cls)),
        trim_offsets_(trim_offsets),
        add_prefix_space_(add_prefix_space) {}

  size_t added_tokens(bool pair) const override { return pair ? 4 : 2; }
  std::optional<int32_t> max_special_id() const override { return std::max(sep_.id, cls_.id); }
  bool trims_offsets() const override { return trim_offsets_; }

  Encoding process(std::vector<Encoding> encodings, bool add_special_tokens) const override {
    prepare_encodings(encodings);
    return merge_encodings(process_encodings(std::move(encodings), add_special_tokens));
  }

  std::vector<Encoding> process_encodings(std::vector<Encoding> encodings,
                                          bool add_special_tokens) const override {
    for (Encoding& e : encodings) {
      if (trim_offsets_) trim_byte_level_offsets(e, add_prefix_space_);
      // Only the main piece: overflowing pieces keep their type ids unless wrapped below.
      e.type_ids.assign(e.ids.size(), 0);
    }
    if (!add_special_tokens) return encodings;
    for (size_t i = 0; i < encodings.size(); ++i) {
      const SpecialToken& first = i == 0 ? cls_ : sep_;
      wrap(encodings[i], first, sep_);
      for (Encoding& o : encodings[i].overflowing) {
        wrap(o, first, sep_);
        o.overflowing.clear();
      }
    }
    return encodings;
  }

 private:
  SpecialToken sep_, cls_;
  bool trim_offsets_;
  bool add_prefix_space_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_roberta_processing(const nlohmann::json& j) {
  return std::make_unique<RobertaProcessing>(
      read_special(j, "sep", "</s>", 2), read_special(j, "cls", "<s>", 0),
      get_bool(j, kWhat, "trim_offsets", true), get_bool(j, kWhat, "add_prefix_space", true));
}

}  // namespace ember::tok
