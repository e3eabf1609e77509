#include "serve/request_cost.h"

namespace ember::serve {

int64_t parse_cost(size_t body_bytes) {
  return static_cast<int64_t>(body_bytes) * (1 + kJsonBytesPerBodyByte) + kRequestOverheadBytes;
}

int64_t tokenize_cost(int64_t longest_bytes, int64_t kept_tokens) {
  return longest_bytes * kTokenizerBytesPerTextByte +
         kept_tokens * (kEncodingBytesPerToken + kQueuedBytesPerToken);
}

int64_t queued_cost(int64_t tokens) {
  return tokens * kQueuedBytesPerToken;
}

int64_t embeddings_answer_cost(int64_t count, int64_t hidden, int64_t dims) {
  // The batch's pooled rows (hidden), each input's copy and the joined values (dims), the text.
  return count * (hidden * 4 + dims * (4 + 4 + kJsonBytesPerFloat)) + kRequestOverheadBytes;
}

int64_t hidden_states_answer_cost(int64_t tokens, int64_t hidden) {
  // The job's rows, each input's copy (the cache's too), the text.
  return tokens * hidden * (4 + 4 + 4) + hidden_states_json_bytes(tokens, hidden) +
         kRequestOverheadBytes;
}

int64_t scores_answer_cost(int64_t count, int64_t labels) {
  return count * labels * (4 + 4 + 64) + kRequestOverheadBytes;
}

int64_t sparse_answer_cost(int64_t count, int64_t vocab) {
  return count * vocab * (8 + 8 + 40) + kRequestOverheadBytes;
}

int64_t tokenize_answer_cost(int64_t tokens, int64_t text_bytes) {
  // Special tokens' texts ("[CLS]", "<|endoftext|>") are short; 64 bytes of them allowed each.
  return tokens * (96 + 64) + text_bytes * 6 * 4 + kRequestOverheadBytes;
}

int64_t hidden_states_json_bytes(int64_t tokens, int64_t hidden) {
  return tokens * (hidden * kJsonBytesPerFloat + 2) + 2;
}

}  // namespace ember::serve
