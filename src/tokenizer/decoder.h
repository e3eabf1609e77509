// Decoders turn token strings back into text. One implementation per tokenizer.json
// "decoder" type; without a decoder the tokens are joined with spaces (library behaviour).
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ember::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::string decode(std::vector<std::string> tokens) const = 0;
  // The library's decode_chain, one step of a Sequence decoder: the tokens after this decoder,
  // whose concatenation is decode(). The default is decode() as one piece.
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const {
    return {decode(std::move(tokens))};
  }
};

// A decoder defined by its decode_chain; decode() joins the pieces.
class ChainDecoder : public Decoder {
 public:
  std::string decode(std::vector<std::string> tokens) const override;
};

// From their tokenizer.json objects.
std::unique_ptr<Decoder> make_byte_level_decoder();
std::unique_ptr<Decoder> make_sequence_decoder(const nlohmann::json& j);
// Metaspace, Replace, ByteFallback, Fuse, Strip; nullptr when `type` is none of them.
std::unique_ptr<Decoder> make_spm_decoder(const nlohmann::json& j, const std::string& type);

std::unique_ptr<Decoder> make_wordpiece_decoder(std::string prefix, bool cleanup);
// BPEDecoder: `suffix` becomes a space, except in the last token where it is dropped.
std::unique_ptr<Decoder> make_bpe_decoder(std::string suffix);
// CTC (speech models): repeated tokens collapsed, pad removed, word delimiter -> space.
std::unique_ptr<Decoder> make_ctc_decoder(std::string pad, std::string delimiter, bool cleanup);

// Every occurrence of `from` in s replaced by `to`, as Rust's str::replace (also for an
// empty `from`).
void replace_all(std::string& s, std::string_view from, std::string_view to);
// The WordPiece decoder's cleanup (" ." -> ".", " n't" -> "n't", ...), in the library's order.
void wordpiece_cleanup(std::string& s);

// nullptr for a JSON null. Throws kUnsupported naming an unknown type.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

}  // namespace ember::tok
