// The Sequence decoder: each decoder's decode_chain in turn, then the pieces joined.
#include <nlohmann/json.hpp>

#include "tokenizer/decoder.h"
#include "tokenizer/json_fields.h"

namespace ember::tok {

std::string ChainDecoder::decode(std::vector<std::string> tokens) const {
  std::string out;
  for (const std::string& t : decode_chain(std::move(tokens))) out += t;
  return out;
}
namespace {

class SequenceDecoder final : public ChainDecoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> items)
      : items_(std::move(items)) {}

  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& d : items_) tokens = d->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

}  // namespace

std::unique_ptr<Decoder> make_sequence_decoder(const nlohmann::json& j) {
  std::vector<std::unique_ptr<Decoder>> items;
  for (const auto& item : json_fields::get_array(j, "decoder", "decoders")) {
    if (auto d = make_decoder(item)) items.push_back(std::move(d));
  }
  return std::make_unique<SequenceDecoder>(std::move(items));
}

}  // namespace ember::tok
