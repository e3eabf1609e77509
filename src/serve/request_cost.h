// The memory model of one request: upper bounds, in bytes, of what each stage of a request
// holds, known from its size before the stage starts, so that admission (MemoryBudget) can
// refuse a request before it costs anything. The constants are measured on the worst inputs
// found (docs/security.md has the measurement and its command); each bound covers the
// allocator's own overhead.
//
// A request's reservation follows its stages:
//   body being received     Content-Length (or --max-payload-bytes when chunked)
//   parsing (router)        parse_cost(body)
//   tokenizing (routes)     parse_cost(body) + tokenize_cost(texts)
//   queued, computed,       parse_cost(body) + queued_cost(tokens) + the route's answer cost,
//   answered                then without parse_cost once the handler has returned
// and is released when the last byte of the answer has been written.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::serve {

// A parsed JSON document (nlohmann::json) per byte of its text: the worst shapes measured
// ("[{},{},..]", "[[[[..]]]]", "[\"\",\"\",..]") take up to 41 bytes per byte, body copies
// included.
inline constexpr int64_t kJsonBytesPerBodyByte = 48;
// The tokenizer's working set per byte of the text it encodes (normalized-string alignments,
// pre-tokenizer splits, the Encoding): up to 295 bytes per byte measured, on one-character
// words ("!!!!"), with WordPiece, byte-level BPE and Unigram tokenizers alike.
inline constexpr int64_t kTokenizerBytesPerTextByte = 400;
// An Encoding (ids, type ids, offsets, token strings, masks) per token it keeps.
inline constexpr int64_t kEncodingBytesPerToken = 96;
// A queued sequence per token: ids and type ids, and their copy in the packed batch.
inline constexpr int64_t kQueuedBytesPerToken = 16;
// A float written as JSON text (shortest round trip, sign, exponent, comma).
inline constexpr int64_t kJsonBytesPerFloat = 16;
// Fixed cost of any request (the Request, its closures, small strings).
inline constexpr int64_t kRequestOverheadBytes = 16 << 10;

// Body text plus its parsed tree.
int64_t parse_cost(size_t body_bytes);

// Tokenizing texts one at a time, the longest of `longest_bytes`, keeping `kept_tokens` tokens
// of them all: the working set of the longest, and the encodings kept.
int64_t tokenize_cost(int64_t longest_bytes, int64_t kept_tokens);

// Sequences of `tokens` tokens waiting in the batcher.
int64_t queued_cost(int64_t tokens);

// Answers: pooled embeddings (count x dims floats: the batch's rows, each input's copy, the
// formatted answer), hidden states (tokens x hidden floats likewise), and scores.
int64_t embeddings_answer_cost(int64_t count, int64_t hidden, int64_t dims);
int64_t hidden_states_answer_cost(int64_t tokens, int64_t hidden);
int64_t scores_answer_cost(int64_t count, int64_t labels);
// Sparse (SPLADE) vectors: at most `vocab` non-zero entries per input, each an (index, value)
// pair in the batcher and in the cache, and about 40 bytes of JSON.
int64_t sparse_answer_cost(int64_t count, int64_t vocab);

// /tokenize's answer for `tokens` tokens of texts of `text_bytes`: the fields of each token,
// and its text escaped (up to 6 bytes per byte; a character split into several byte-level
// tokens is written whole in each of them, so up to 4 times).
int64_t tokenize_answer_cost(int64_t tokens, int64_t text_bytes);

// /embed_all's answer in bytes of JSON (what --max-response-bytes bounds).
int64_t hidden_states_json_bytes(int64_t tokens, int64_t hidden);

}  // namespace ember::serve
