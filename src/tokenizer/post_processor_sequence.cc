// The Sequence post-processor (each processor's process_encodings in turn, then one merge),
// the ByteLevel post-processor (trim_offsets only), and the helpers they share.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/encoding_ops.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/post_processor.h"

namespace ember::tok {

std::vector<Encoding> PostProcessor::process_encodings(std::vector<Encoding> encodings,
                                                       bool add_special_tokens) const {
  std::vector<Encoding> out;
  out.push_back(process(std::move(encodings), add_special_tokens));
  return out;
}

void prepare_encodings(std::vector<Encoding>& encodings) {
  for (size_t i = 0; i < encodings.size(); ++i) {
    set_sequence_id(encodings[i], static_cast<int32_t>(i));
    std::fill(encodings[i].type_ids.begin(), encodings[i].type_ids.end(), static_cast<int32_t>(i));
  }
}

Encoding merge_encodings(std::vector<Encoding> encodings) {
  if (encodings.size() == 1) return std::move(encodings[0]);
  Encoding out;
  for (const Encoding& e : encodings) merge_into(out, e);
  return out;
}

namespace {

constexpr std::string_view kWhat = "post_processor";

class ByteLevelProcessor final : public PostProcessor {
 public:
  ByteLevelProcessor(bool trim_offsets, bool add_prefix_space)
      : trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}

  size_t added_tokens(bool) const override { return 0; }
  bool trims_offsets() const override { return trim_offsets_; }

  Encoding process(std::vector<Encoding> encodings, bool add_special_tokens) const override {
    prepare_encodings(encodings);
    return merge_encodings(process_encodings(std::move(encodings), add_special_tokens));
  }

  std::vector<Encoding> process_encodings(std::vector<Encoding> encodings, bool) const override {
    for (size_t i = 0; i < encodings.size(); ++i) {
      if (trim_offsets_) trim_byte_level_offsets(encodings[i], add_prefix_space_);
      set_sequence_id(encodings[i], static_cast<int32_t>(i));
    }
    return encodings;
  }

 private:
  bool trim_offsets_;
  bool add_prefix_space_;
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> items)
      : items_(std::move(items)) {}

  size_t added_tokens(bool pair) const override {
    size_t n = 0;
    for (const auto& p : items_) n += p->added_tokens(pair);
    return n;
  }

  std::optional<int32_t> max_special_id() const override {
    std::optional<int32_t> best;
    for (const auto& p : items_) {
      const auto id = p->max_special_id();
      if (id && (!best || *id > *best)) best = id;
    }
    return best;
  }

  bool trims_offsets() const override {
    return std::any_of(items_.begin(), items_.end(),
                       [](const auto& p) { return p->trims_offsets(); });
  }

  Encoding process(std::vector<Encoding> encodings, bool add_special_tokens) const override {
    prepare_encodings(encodings);
    return merge_encodings(process_encodings(std::move(encodings), add_special_tokens));
  }

  std::vector<Encoding> process_encodings(std::vector<Encoding> encodings,
                                          bool add_special_tokens) const override {
    for (const auto& p : items_) {
      encodings = p->process_encodings(std::move(encodings), add_special_tokens);
    }
    return encodings;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_byte_level_post_processor(const nlohmann::json& j) {
  return std::make_unique<ByteLevelProcessor>(
      json_fields::get_bool(j, kWhat, "trim_offsets", true),
      json_fields::get_bool(j, kWhat, "add_prefix_space", true));
}

std::unique_ptr<PostProcessor> make_sequence_post_processor(const nlohmann::json& j) {
  std::vector<std::unique_ptr<PostProcessor>> items;
  for (const auto& item : json_fields::get_array(j, kWhat, "processors")) {
    if (auto p = make_post_processor(item)) items.push_back(std::move(p));
  }
  return std::make_unique<SequenceProcessor>(std::move(items));
}

}  // namespace ember::tok
