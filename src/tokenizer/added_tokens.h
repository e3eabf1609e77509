// The tokenizer.json "added_tokens": strings ([CLS], [MASK], user tokens) that are cut out of
// the text before the model runs, each becoming one token. Tokens with normalized=false are
// found in the raw text; the rest are found in the normalized text, in their normalized form.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/model_wordpiece.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenized_string.h"

namespace ember::tok {

struct AddedToken {
  std::string content;
  bool single_word = false;  // only match when not inside a word (regex \w on either side)
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool normalized = true;    // match against the normalized text
  bool special = false;      // skipped by decode(skip_special_tokens)
  bool operator==(const AddedToken&) const = default;
};

class AddedVocabulary {
 public:
  // As the library loads tokenizer.json: an id comes from the model's vocabulary when the
  // content is there, otherwise the next free id after it (the file's "id" is not used).
  void add(const std::vector<AddedToken>& tokens, const Model& model, const Normalizer* normalizer);

  // Splits out the raw-text tokens, normalizes the remaining pieces, then splits out the
  // normalized tokens. `text` must outlive the result.
  PreTokenizedString extract_and_normalize(std::string_view text,
                                           const Normalizer* normalizer) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(std::string_view token) const;
  // Added contents that the model's vocabulary lacks.
  size_t count_not_in(const Model& model) const;
  // The largest id of an added token; nullopt when there are none.
  std::optional<int32_t> max_id() const;

 private:
  // A byte trie for leftmost-longest matching of the contents.
  struct Trie {
    std::unordered_map<uint64_t, int32_t> edges;  // (node << 8 | byte) -> child
    std::vector<int32_t> value;                   // token id per node, -1 when none
    std::array<bool, 256> starts{};               // bytes that begin some pattern
    void clear();
    void insert(std::string_view pattern, int32_t id);
    bool empty() const { return value.size() <= 1; }
  };
  struct Match {
    int32_t id;  // -1 for a gap
    size_t begin, end;
  };
  void rebuild();
  std::vector<Match> find_matches(std::string_view s, const Trie& trie) const;
  std::vector<Split> split_with(NormalizedString&& s, const Trie& trie) const;

  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> by_content_;
  std::unordered_map<int32_t, AddedToken> by_id_;
  std::unordered_map<int32_t, std::string> normalized_form_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> special_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace ember::tok
