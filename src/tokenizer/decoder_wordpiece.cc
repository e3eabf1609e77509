// The WordPiece decoder: glue "##" pieces to the previous token, put a space before the
// others, and optionally undo the tokenizer's spaces around punctuation and contractions.
#include <nlohmann/json.hpp>
#include <string_view>

#include "tokenizer/decoder.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/utf8.h"

namespace ember::tok {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) {  // Rust's str::replace: `to` at every character boundary, both ends too
    std::string out(to);
    for (size_t i = 0; i < s.size();) {
      const size_t n = utf8_len(static_cast<unsigned char>(s[i]));
      out.append(s, i, n);
      out.append(to);
      i += n;
    }
    s = std::move(out);
    return;
  }
  std::string out;
  size_t pos = 0;
  bool changed = false;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
    changed = true;
  }
  if (!changed) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

// The library's cleanup list, applied in its order to each token.
void wordpiece_cleanup(std::string& s) {
  static constexpr std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},
      {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},   {" do not", " don't"},
      {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
  };
  for (const auto& [from, to] : kRules) replace_all(s, from, to);
}

namespace {

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}

  std::string decode(std::vector<std::string> tokens) const override {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.starts_with(prefix_)) {
          t.erase(0, prefix_.size());
        } else {
          t.insert(0, 1, ' ');
        }
      }
      if (cleanup_) wordpiece_cleanup(t);
      out += t;
    }
    return out;
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

}  // namespace

std::unique_ptr<Decoder> make_wordpiece_decoder(std::string prefix, bool cleanup) {
  return std::make_unique<WordPieceDecoder>(std::move(prefix), cleanup);
}

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  constexpr std::string_view kWhat = "decoder";
  const std::string type = json_fields::type_of(j, kWhat);
  if (type == "WordPiece") {
    return make_wordpiece_decoder(json_fields::get_string(j, kWhat, "prefix", "##"),
                                  json_fields::get_bool(j, kWhat, "cleanup", true));
  }
  if (type == "ByteLevel") return make_byte_level_decoder();
  if (type == "Sequence") return make_sequence_decoder(j);
  if (type == "BPEDecoder")
    return make_bpe_decoder(json_fields::get_string(j, kWhat, "suffix", "</w>"));
  if (type == "CTC") {
    return make_ctc_decoder(json_fields::get_string(j, kWhat, "pad_token", "<pad>"),
                            json_fields::get_string(j, kWhat, "word_delimiter_token", "|"),
                            json_fields::get_bool(j, kWhat, "cleanup", true));
  }
  if (auto d = make_spm_decoder(j, type)) return d;
  json_fields::unsupported(kWhat, type);
}

}  // namespace ember::tok
