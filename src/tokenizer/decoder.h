// Decoders turn token strings back into text. One implementation per tokenizer.json
// "decoder" type; without a decoder the tokens are joined with spaces (library behaviour).
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace ember::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::string decode(std::vector<std::string> tokens) const = 0;
};

std::unique_ptr<Decoder> make_wordpiece_decoder(std::string prefix, bool cleanup);

// nullptr for a JSON null. Throws kUnsupported naming an unknown type.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

}  // namespace ember::tok
