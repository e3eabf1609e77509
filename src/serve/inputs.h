// Request inputs -> token sequences, shared by the TEI and OpenAI routes: a string, a list of
// strings, a list of token ids, or a list mixing strings and id lists. Applies the model's
// length rule per request: truncate (right or left) or answer 422.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ember/ember.h"
#include "serve/batcher.h"
#include "serve/memory_budget.h"
#include "serve/prompts.h"

namespace ember::serve {

enum class TruncationSide { kRight, kLeft };

struct InputRules {
  size_t max_inputs = 512;
  bool truncate = false;
  TruncationSide side = TruncationSide::kRight;
  // The request's reservation: grown by the cost of tokenizing (request_cost.h) before any
  // text is tokenized (throws HttpError 429 / 413 when it does not fit). Null: not accounted.
  MemoryBudget::Reservation* memory = nullptr;
  // Bytes of text one request may have tokenized, all inputs together (a /rerank query counts
  // once per text); 413 above. 0: no limit.
  int64_t max_text_bytes = 0;
  // Prepended to every text (and to the text of an id list, decoded) before tokenization:
  // the request's sentence-transformers prompt (set_prompt).
  std::string prompt;
  // The model's Pooling has include_prompt false: the prompt's tokens are not pooled.
  bool exclude_prompt = false;
  // An empty text is TEI's 400 "Empty"; KServe takes it (it tokenizes to the special tokens).
  bool allow_empty_text = false;
};

// Sets rules.prompt from j's "prompt_name" (absent or null: the server's default prompt, if
// any); 422 for a name that is not one of the model's prompts or that is not a string.
void set_prompt(InputRules& rules, const nlohmann::json& j, const Prompts& prompts);

struct TokenizedInputs {
  std::vector<Sequence> sequences;
  int64_t tokens = 0;
  int64_t reserved_before = 0;  // the reservation before tokenizing (the parsed request)
  // With rules.exclude_prompt and a prompt: the tokens of the prompt (with the leading special
  // tokens, as sentence-transformers counts them), left out of pooling. 0: every token pooled.
  int64_t pool_from = 0;
};

// Throws HttpError as TEI answers: 400 "Empty" for an empty batch, text or id list; 422 for a
// wrong shape, bad ids or an over-long input without truncation; 413 for too many inputs;
// 422 "Tokenizer" for text the tokenizer rejects.
TokenizedInputs tokenize_inputs(const nlohmann::json& inputs, const ember::Model& model,
                                const InputRules& rules);

// A text, or a sentence pair (the /predict and /rerank inputs), viewing the request's strings.
using TextOrPair = std::pair<std::string_view, std::optional<std::string_view>>;

// Texts and pairs -> sequences (pairs carry type ids). An over-long pair with truncation
// asked for loses tokens from its longer text first, as the Hugging Face tokenizer cuts it;
// without truncation, 422.
TokenizedInputs tokenize_texts(const std::vector<TextOrPair>& items, const ember::Model& model,
                               const InputRules& rules);

// Cuts the content tokens (not the special tokens at either end) down to max_length: token
// id inputs, which the tokenizer never saw.
void truncate_sequence(Sequence& seq, const std::vector<uint8_t>& special_mask, size_t max_length,
                       TruncationSide side);

// Parses a JSON body; malformed JSON -> 400, a non-object document -> 422.
nlohmann::json parse_body(const std::string& body);

// Optional fields with a type check (422 naming the field).
bool get_bool(const nlohmann::json& j, const char* key, bool fallback);
TruncationSide get_truncation_side(const nlohmann::json& j);

}  // namespace ember::serve
