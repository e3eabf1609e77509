// Loading tokenizer.json and running the pipeline:
// added tokens -> normalizer -> pre-tokenizer -> model -> truncation -> post-processor.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/decoder.h"
#include "tokenizer/encoding_ops.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace ember::tok {

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;
  std::optional<Truncation> truncation;

  size_t num_special(bool pair) const {
    return post_processor ? post_processor->added_tokens(pair) : 0;
  }
  // `chars` receives the code point index of every byte of `text`.
  Encoding encode_sequence(std::string_view text, int32_t type_id,
                           std::vector<uint32_t>& chars) const;
  // `chars`: the code point index per byte of the first and the second text.
  Encoding post_process(Encoding a, std::optional<Encoding> b, bool add_special,
                        const std::optional<Truncation>& trunc,
                        const std::vector<uint32_t>* const (&chars)[2]) const;
};

namespace {

using json_fields::malformed;

std::optional<Truncation> read_truncation(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  constexpr std::string_view kWhat = "truncation";
  if (!j.is_object()) malformed(kWhat, "expected an object");
  Truncation t;
  t.max_length = json_fields::get_uint(j, kWhat, "max_length", 512);
  t.stride = json_fields::get_uint(j, kWhat, "stride", 0);
  const std::string strategy = json_fields::get_string(j, kWhat, "strategy", "LongestFirst");
  if (strategy == "LongestFirst") {
    t.strategy = TruncationStrategy::kLongestFirst;
  } else if (strategy == "OnlyFirst") {
    t.strategy = TruncationStrategy::kOnlyFirst;
  } else if (strategy == "OnlySecond") {
    t.strategy = TruncationStrategy::kOnlySecond;
  } else {
    malformed(kWhat, cat("unknown strategy '", strategy, "'"));
  }
  const std::string direction = json_fields::get_string(j, kWhat, "direction", "Right");
  if (direction != "Right" && direction != "Left") {
    malformed(kWhat, cat("unknown direction '", direction, "'"));
  }
  t.direction = direction == "Left" ? TruncationDirection::kLeft : TruncationDirection::kRight;
  return t;
}

std::vector<AddedToken> read_added_tokens(const nlohmann::json& j) {
  std::vector<AddedToken> out;
  if (j.is_null()) return out;
  constexpr std::string_view kWhat = "added_tokens";
  if (!j.is_array()) malformed(kWhat, "expected an array");
  for (const auto& item : j) {
    if (!item.is_object()) malformed(kWhat, "expected objects");
    AddedToken t;
    t.content = json_fields::get_string(item, kWhat, "content", "");
    t.single_word = json_fields::get_bool(item, kWhat, "single_word", false);
    t.lstrip = json_fields::get_bool(item, kWhat, "lstrip", false);
    t.rstrip = json_fields::get_bool(item, kWhat, "rstrip", false);
    t.normalized = json_fields::get_bool(item, kWhat, "normalized", true);
    t.special = json_fields::get_bool(item, kWhat, "special", false);
    out.push_back(std::move(t));
  }
  return out;
}

const nlohmann::json& field(const nlohmann::json& root, const char* key) {
  static const nlohmann::json kNull;
  const auto it = root.find(key);
  return it == root.end() ? kNull : *it;
}

// Byte -> code point index for every byte of `text` (continuation bytes map to their char).
void char_index(std::string_view text, std::vector<uint32_t>& idx) {
  idx.resize(text.size());
  uint32_t c = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++c;
    idx[i] = c;
  }
}

// Whether byte position b of a text is where code point c begins (or the end, for c = the
// number of code points).
bool starts_char(const std::vector<uint32_t>& chars, size_t b, size_t c) {
  if (b < chars.size()) return chars[b] == c && (b == 0 || chars[b - 1] != c);
  return b == chars.size() && c == (chars.empty() ? 0 : chars.back() + size_t{1});
}

// ByteLevel's trim_offsets cuts spaces off code-point offsets and moves the byte offsets by as
// many bytes, which is right for an input space but not for what a normalizer turned into one
// (NFKC: U+00A0 is two bytes, U+3000 three). Where a token's byte range no longer starts and
// ends at its code points, it is recomputed from them.
void realign_bytes(Encoding& e, const std::vector<uint32_t>* const (&chars)[2]) {
  for (size_t i = 0; i < e.size(); ++i) {
    const int32_t s = e.sequence_ids[i];
    if (s < 0 || s > 1 || !chars[s]) continue;
    const std::vector<uint32_t>& idx = *chars[s];
    auto& [b0, b1] = e.offsets[i];
    const auto [c0, c1] = e.char_offsets[i];
    const size_t n = idx.empty() ? 0 : idx.back() + size_t{1};
    if (c0 > n || c1 > n) continue;  // offsets the library left in other units
    const auto byte_of = [&](size_t c) {
      return static_cast<size_t>(std::lower_bound(idx.begin(), idx.end(), c) - idx.begin());
    };
    if (!starts_char(idx, b0, c0)) b0 = byte_of(c0);
    if (!starts_char(idx, b1, c1)) b1 = byte_of(c1);
  }
  for (Encoding& o : e.overflowing) realign_bytes(o, chars);
}

}  // namespace

Encoding Tokenizer::Impl::encode_sequence(std::string_view text, int32_t type_id,
                                          std::vector<uint32_t>& chars) const {
  validate_utf8(text);
  EMBER_CHECK(text.size() < std::numeric_limits<uint32_t>::max(), ErrorKind::kInvalidInput,
              "input is too large to tokenize (", text.size(), " bytes)");
  PreTokenizedString p = added.extract_and_normalize(text, normalizer.get());
  if (pre_tokenizer) pre_tokenizer->pre_tokenize(p);
  char_index(text, chars);
  Encoding e;
  const size_t guess = p.splits().size() + p.splits().size() / 4;
  e.ids.reserve(guess);
  e.tokens.reserve(guess);
  e.offsets.reserve(guess);
  e.char_offsets.reserve(guess);
  e.word_ids.reserve(guess);
  std::vector<Token> tokens;  // the model's output for one split, reused
  int32_t word = 0;
  for (Split& s : p.splits()) {
    if (!s.tokens) {
      tokens.clear();
      model->tokenize(s.normalized.get(), tokens);
    }
    for (Token& t : s.tokens ? *s.tokens : tokens) {
      const auto original = s.normalized.to_original(t.begin, t.end);
      const std::pair<size_t, size_t> bytes = original ? *original : std::pair{t.begin, t.end};
      // The library's byte -> char conversion; it leaves offsets it cannot map unchanged.
      std::pair<size_t, size_t> cps = bytes;
      if (bytes.first < text.size()) {
        cps.first = chars[bytes.first];
        cps.second =
            bytes.second < text.size() ? chars[bytes.second] : chars[bytes.second - 1] + size_t{1};
      }
      e.ids.push_back(t.id);
      e.tokens.push_back(std::move(t.value));
      e.offsets.push_back(bytes);
      e.char_offsets.push_back(cps);
      e.word_ids.push_back(word);
    }
    ++word;
  }
  const size_t n = e.ids.size();
  e.type_ids.assign(n, type_id);
  e.special_tokens_mask.assign(n, 0);
  e.sequence_ids.assign(n, -1);
  return e;
}

Encoding Tokenizer::Impl::post_process(Encoding a, std::optional<Encoding> b, bool add_special,
                                       const std::optional<Truncation>& trunc,
                                       const std::vector<uint32_t>* const (&chars)[2]) const {
  if (trunc) {
    Truncation t = *trunc;
    const size_t n_added = num_special(b.has_value());
    if (add_special && n_added > 0) {
      EMBER_CHECK(t.max_length >= n_added, ErrorKind::kInvalidInput, "truncation max_length ",
                  t.max_length, " is smaller than the ", n_added, " special tokens");
      t.max_length -= n_added;
    }
    truncate_encodings(a, b ? &*b : nullptr, t);
  }
  std::vector<Encoding> encodings;
  encodings.push_back(std::move(a));
  if (b) encodings.push_back(std::move(*b));
  if (post_processor) {
    Encoding out = post_processor->process(std::move(encodings), add_special);
    if (post_processor->trims_offsets()) realign_bytes(out, chars);
    return out;
  }
  if (encodings.size() == 1) return std::move(encodings[0]);
  Encoding out;
  for (size_t i = 0; i < encodings.size(); ++i) {
    set_sequence_id(encodings[i], static_cast<int32_t>(i));
    merge_into(out, encodings[i]);
  }
  return out;
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), ErrorKind::kNotFound, "tokenizer file not found: ", path.string());
  std::ostringstream buf;
  buf << in.rdbuf();
  return from_json(buf.str(), path.string());
}

Tokenizer Tokenizer::from_json(std::string_view json, const std::string& origin) {
  auto impl = std::make_unique<Impl>();
  try {
    const nlohmann::json root = nlohmann::json::parse(json);
    if (!root.is_object()) fail(ErrorKind::kInvalidInput, origin, ": expected a JSON object");
    impl->normalizer = make_normalizer(field(root, "normalizer"));
    impl->pre_tokenizer = make_pre_tokenizer(field(root, "pre_tokenizer"));
    impl->model = make_model(field(root, "model"));
    impl->post_processor = make_post_processor(field(root, "post_processor"));
    impl->decoder = make_decoder(field(root, "decoder"));
    impl->truncation = read_truncation(field(root, "truncation"));
    // "padding" is ignored on purpose: Ember packs sequences and never pads.
    impl->added.add(read_added_tokens(field(root, "added_tokens")), *impl->model,
                    impl->normalizer.get());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kInvalidInput, origin, ": malformed JSON: ", e.what());
  }
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return encode(text, add_special_tokens, impl_->truncation);
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b,
                                bool add_special_tokens) const {
  return encode_pair(a, b, add_special_tokens, impl_->truncation);
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens,
                           const std::optional<Truncation>& truncation) const {
  std::vector<uint32_t> chars;
  Encoding e = impl_->encode_sequence(text, 0, chars);
  const std::vector<uint32_t>* const texts[2] = {&chars, nullptr};
  return impl_->post_process(std::move(e), std::nullopt, add_special_tokens, truncation, texts);
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b, bool add_special_tokens,
                                const std::optional<Truncation>& truncation) const {
  std::vector<uint32_t> chars_a, chars_b;
  Encoding ea = impl_->encode_sequence(a, 0, chars_a);
  Encoding eb = impl_->encode_sequence(b, 1, chars_b);
  const std::vector<uint32_t>* const texts[2] = {&chars_a, &chars_b};
  return impl_->post_process(std::move(ea), std::move(eb), add_special_tokens, truncation, texts);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    std::optional<std::string> t = impl_->added.id_to_token(id);
    if (!t) {
      if (const auto m = impl_->model->id_to_token(id)) t = std::string(*m);
    }
    if (!t || (skip_special_tokens && impl_->added.is_special(*t))) continue;
    tokens.push_back(std::move(*t));
  }
  if (impl_->decoder) return impl_->decoder->decode(std::move(tokens));
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ' ';
    out += tokens[i];
  }
  return out;
}

const std::optional<Truncation>& Tokenizer::truncation() const {
  return impl_->truncation;
}

void Tokenizer::set_truncation(std::optional<Truncation> truncation) {
  if (truncation) {
    // The library's check: the stride must fit in what is left after the special tokens.
    const size_t n_added = impl_->num_special(false);
    EMBER_CHECK(
        truncation->max_length >= n_added && truncation->stride <= truncation->max_length - n_added,
        ErrorKind::kInvalidInput, "truncation stride ", truncation->stride,
        " does not fit in max_length ", truncation->max_length, " minus ", n_added,
        " special tokens");
  }
  impl_->truncation = truncation;
}

size_t Tokenizer::num_special_tokens(bool pair) const {
  return impl_->num_special(pair);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (auto t = impl_->added.id_to_token(id)) return t;
  if (const auto m = impl_->model->id_to_token(id)) return std::string(*m);
  return std::nullopt;
}

std::optional<int32_t> Tokenizer::max_token_id() const {
  std::optional<int32_t> best = impl_->model->max_id();
  for (const auto id :
       {impl_->added.max_id(),
        impl_->post_processor ? impl_->post_processor->max_special_id() : std::nullopt}) {
    if (id && (!best || *id > *best)) best = id;
  }
  return best;
}

size_t Tokenizer::vocab_size() const {
  return impl_->model->vocab_size() + impl_->added.count_not_in(*impl_->model);
}

}  // namespace ember::tok
