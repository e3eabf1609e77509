// Request inputs -> token sequences, shared by the TEI and OpenAI routes: a string, a list of
// strings, a list of token ids, or a list mixing strings and id lists. Applies the model's
// length rule per request: truncate (right or left) or answer 413.
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
};

struct TokenizedInputs {
  std::vector<Sequence> sequences;
  int64_t tokens = 0;
  int64_t reserved_before = 0;  // the reservation before tokenizing (the parsed request)
};

// Throws HttpError: 422 for a wrong shape or bad ids, 413 for too many inputs or an
// over-long input without truncation, 422 "Tokenizer" for text the tokenizer rejects.
TokenizedInputs tokenize_inputs(const nlohmann::json& inputs, const ember::Model& model,
                                const InputRules& rules);

// A text, or a sentence pair (the /predict and /rerank inputs), viewing the request's strings.
using TextOrPair = std::pair<std::string_view, std::optional<std::string_view>>;

// Texts and pairs -> sequences (pairs carry type ids). An over-long pair with truncation
// asked for loses tokens from its longer text first, as the Hugging Face tokenizer cuts it;
// without truncation, 413.
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
