#include "serve/inputs.h"

#include <algorithm>

#include "core/error.h"
#include "serve/errors.h"
#include "serve/request_cost.h"

namespace ember::serve {
namespace {

// What tokenizing a request's inputs may hold, known before any of it starts: the longest
// text's working set, and the tokens kept of every input (each at most one per byte plus the
// specials, and at most the model's limit: a longer input is cut or refused at once).
struct TokenizingCost {
  int64_t total_bytes = 0, longest_bytes = 0, kept_tokens = 0;
  void add(int64_t bytes, int64_t working_bytes, int64_t max_length) {
    total_bytes += bytes;
    longest_bytes = std::max(longest_bytes, working_bytes);
    kept_tokens += std::min(bytes + 4, max_length);
  }
};

// Checks the total against rules.max_text_bytes and grows the request's reservation by the
// cost; returns the reservation as it was before.
int64_t reserve_tokenizing(const InputRules& rules, const TokenizingCost& c) {
  if (rules.max_text_bytes > 0 && c.total_bytes > rules.max_text_bytes)
    throw HttpError(413, error_type::kValidation,
                    cat("the inputs have ", c.total_bytes,
                        " bytes of text to tokenize (a query "
                        "counts once per text); a request may have at most ",
                        rules.max_text_bytes, " (4 x --max-payload-bytes)"));
  if (!rules.memory) return 0;
  const int64_t before = rules.memory->bytes();
  rules.memory->resize(before + tokenize_cost(c.longest_bytes, c.kept_tokens),
                       "tokenizing the inputs");
  return before;
}

[[noreturn]] void invalid(const std::string& message) {
  throw HttpError(422, error_type::kValidation, message);
}

// TEI's "Empty": an empty batch, an empty text or id list (a pair only when both are empty).
[[noreturn]] void empty(const std::string& message) {
  throw HttpError(400, error_type::kEmpty, message);
}

Sequence from_ids(const nlohmann::json& ids, const ember::Model& model, size_t index,
                  std::vector<uint8_t>& special) {
  Sequence seq;
  const auto vocab = model.info().vocab_size;
  for (const auto& v : ids) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab)
      invalid(cat("inputs[", index, "]: token ids must be integers in [0, ", vocab, ")"));
    seq.ids.push_back(v.get<int32_t>());
  }
  special.assign(seq.ids.size(), 0);  // ids are taken as given: nothing is special
  return seq;
}

ember::TokenizeOptions tokenize_options(const InputRules& rules) {
  ember::TokenizeOptions o;
  o.truncation = !rules.truncate                       ? ember::Truncation::kNone
                 : rules.side == TruncationSide::kLeft ? ember::Truncation::kLeft
                                                       : ember::Truncation::kRight;
  return o;
}

// The tokenizer's own refusals (invalid UTF-8) are 422 "Tokenizer".
template <typename Encode>
ember::Encoding tokenized(Encode encode) {
  try {
    return encode();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInvalidInput) throw;
    throw HttpError(422, error_type::kTokenizer, e.what());
  }
}

// With a prompt, the prompt and the text are tokenized together.
Sequence from_text(std::string_view text, const ember::Model& model, const InputRules& rules,
                   std::vector<uint8_t>& special, const std::string& prompt = {}) {
  ember::Encoding enc = tokenized([&] {
    return prompt.empty() ? model.tokenize(text, tokenize_options(rules))
                          : model.tokenize(prompt + std::string(text), tokenize_options(rules));
  });
  special = std::move(enc.special_tokens_mask);
  return {std::move(enc.ids), std::move(enc.type_ids)};
}

bool is_id_list(const nlohmann::json& j) {
  return j.is_array() && !j.empty() && j.front().is_number();
}

// TEI answers an over-long input 422 (Validation); 413 is for a too-large payload or batch.
[[noreturn]] void too_long(size_t i, size_t tokens, size_t max_length) {
  throw HttpError(422, error_type::kValidation,
                  cat("inputs[", i, "] has ", tokens, " tokens; the model takes at most ",
                      max_length, " (send \"truncate\": true to cut it)"));
}

// Ids: cut to the model's limit or 422. Text arrives cut already when truncation was asked
// for; an over-long one without it is refused here.
void apply_length_rule(Sequence& seq, const std::vector<uint8_t>& special, size_t i,
                       const ember::Model& model, const InputRules& rules) {
  const auto max_length = static_cast<size_t>(model.info().max_length);
  if (seq.ids.empty()) empty(cat("inputs[", i, "] cannot be empty"));
  if (seq.ids.size() <= max_length) return;
  if (!rules.truncate) too_long(i, seq.ids.size(), max_length);
  truncate_sequence(seq, special, max_length, rules.side);
}

}  // namespace

void set_prompt(InputRules& rules, const nlohmann::json& j, const Prompts& prompts) {
  std::optional<std::string> name;
  if (const auto it = j.find("prompt_name"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) invalid("\"prompt_name\" must be a string or null");
    name = it->get<std::string>();
  }
  try {
    rules.prompt = prompts.text_for(name);
  } catch (const Error& e) {
    invalid(e.what());
  }
  rules.exclude_prompt = !prompts.include_prompt;
}

void truncate_sequence(Sequence& seq, const std::vector<uint8_t>& special_mask, size_t max_length,
                       TruncationSide side) {
  const size_t n = seq.ids.size();
  if (n <= max_length) return;
  size_t lead = 0, trail = 0;
  while (lead < n && lead < special_mask.size() && special_mask[lead]) ++lead;
  while (trail < n - lead && special_mask.size() == n && special_mask[n - 1 - trail]) ++trail;
  if (lead + trail >= max_length) lead = trail = 0;  // no room for specials: plain cut
  const size_t keep = max_length - lead - trail;
  const size_t content = n - lead - trail;
  const size_t from = side == TruncationSide::kRight ? lead : lead + (content - keep);
  auto cut = [&](std::vector<int32_t>& v) {
    if (v.empty()) return;
    std::vector<int32_t> out(v.begin(), v.begin() + lead);
    out.insert(out.end(), v.begin() + from, v.begin() + from + keep);
    out.insert(out.end(), v.end() - trail, v.end());
    v = std::move(out);
  };
  cut(seq.ids);
  cut(seq.type_ids);
}

TokenizedInputs tokenize_inputs(const nlohmann::json& inputs, const ember::Model& model,
                                const InputRules& rules) {
  std::vector<const nlohmann::json*> items;
  if (inputs.is_string() || is_id_list(inputs)) {
    items.push_back(&inputs);
  } else if (inputs.is_array()) {
    for (const auto& item : inputs) items.push_back(&item);
  } else {
    invalid("inputs must be a string, a list of strings, or token ids");
  }
  if (items.empty()) empty("`inputs` cannot be empty");
  if (items.size() > rules.max_inputs)
    throw HttpError(
        413, error_type::kValidation,
        cat("batch size ", items.size(), " > maximum allowed batch size ", rules.max_inputs));

  const int64_t max_length = model.info().max_length;
  TokenizingCost cost;
  for (const auto* item : items) {
    // A prompt is tokenized with each input; ids with a prompt are tokenized as text (at most
    // ~16 bytes of text per id: the longest tokens of common vocabularies).
    const auto prompt = static_cast<int64_t>(rules.prompt.size());
    if (item->is_string()) {
      const auto n = static_cast<int64_t>(item->get_ref<const std::string&>().size()) + prompt;
      cost.add(n, n, max_length);
    } else if (item->is_array() && prompt > 0) {
      const auto n = 16 * static_cast<int64_t>(item->size()) + prompt;
      cost.add(n, n, max_length);
    } else if (item->is_array()) {
      cost.kept_tokens += std::min(static_cast<int64_t>(item->size()), max_length);
    }
  }
  TokenizedInputs out;
  out.reserved_before = reserve_tokenizing(rules, cost);
  if (rules.exclude_prompt && !rules.prompt.empty())
    out.pool_from = model.prompt_length(rules.prompt);
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& item = *items[i];
    std::vector<uint8_t> special;
    Sequence seq;
    if (item.is_string()) {
      const auto& text = item.get_ref<const std::string&>();
      if (text.empty() && !rules.allow_empty_text) empty(cat("inputs[", i, "] cannot be empty"));
      seq = from_text(text, model, rules, special, rules.prompt);
    } else if (is_id_list(item)) {
      seq = from_ids(item, model, i, special);
      // As TEI: with a prompt, the ids are decoded (without special tokens) and the prompt
      // and that text are tokenized together.
      if (!rules.prompt.empty())
        seq = from_text(model.decode(seq.ids, true), model, rules, special, rules.prompt);
    } else if (item.is_array() && item.empty()) {
      empty(cat("inputs[", i, "] cannot be empty"));
    } else {
      invalid(cat("inputs[", i, "] must be a string or a non-empty list of token ids"));
    }
    apply_length_rule(seq, special, i, model, rules);
    out.tokens += static_cast<int64_t>(seq.ids.size());
    out.sequences.push_back(std::move(seq));
  }
  return out;
}

TokenizedInputs tokenize_texts(const std::vector<TextOrPair>& items, const ember::Model& model,
                               const InputRules& rules) {
  if (items.empty()) empty("`inputs` cannot be empty");
  if (items.size() > rules.max_inputs)
    throw HttpError(
        413, error_type::kValidation,
        cat("batch size ", items.size(), " > maximum allowed batch size ", rules.max_inputs));
  const auto max_length = static_cast<size_t>(model.info().max_length);
  TokenizingCost cost;
  for (const auto& [a, b] : items) {
    const auto n = static_cast<int64_t>(a.size() + (b ? b->size() : 0));
    cost.add(n, n, static_cast<int64_t>(max_length));
  }
  TokenizedInputs out;
  out.reserved_before = reserve_tokenizing(rules, cost);
  const ember::TokenizeOptions options = tokenize_options(rules);
  for (size_t i = 0; i < items.size(); ++i) {
    // Named, not a structured binding: clang 14 (the fuzz build) cannot capture bindings.
    const std::string_view a = items[i].first;
    const std::optional<std::string_view>& b = items[i].second;
    std::vector<uint8_t> special;
    Sequence seq;
    if (a.empty() && (!b || b->empty()) && !rules.allow_empty_text)
      empty(cat("inputs[", i, "] cannot be empty"));
    if (!b) {
      seq = from_text(a, model, rules, special);
    } else {
      ember::Encoding enc = tokenized([&] { return model.tokenize(a, *b, options); });
      seq = {std::move(enc.ids), std::move(enc.type_ids)};
      special = std::move(enc.special_tokens_mask);
    }
    apply_length_rule(seq, special, i, model, rules);
    out.tokens += static_cast<int64_t>(seq.ids.size());
    out.sequences.push_back(std::move(seq));
  }
  return out;
}

nlohmann::json parse_body(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body);  // parse_error -> 400 in errors.cc
  if (!j.is_object()) invalid("the request body must be a JSON object");
  return j;
}

bool get_bool(const nlohmann::json& j, const char* key, bool fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) invalid(cat("\"", key, "\" must be true or false"));
  return it->get<bool>();
}

TruncationSide get_truncation_side(const nlohmann::json& j) {
  const auto it = j.find("truncation_direction");
  if (it == j.end() || it->is_null()) return TruncationSide::kRight;
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (s == "right" || s == "Right") return TruncationSide::kRight;
    if (s == "left" || s == "Left") return TruncationSide::kLeft;
  }
  invalid("\"truncation_direction\" must be \"right\" or \"left\"");
}

}  // namespace ember::serve
