// Scores from classification logits, as sentence-transformers' CrossEncoder and Hugging Face's
// pipelines read them: softmax over the labels when there are several, the sigmoid of the
// logit when there is one (cross-encoders and rerankers, whose single logit is a relevance
// score, not one class out of one). The one place the CLI, the TEI routes and KServe turn
// logits into scores.
#pragma once

#include <cstdint>

namespace ember::model {

// out[n] = softmax(logits[n]) for n > 1, sigmoid(logits[0]) for n == 1. Computed in double,
// max-subtracted; out may alias logits.
void label_scores(const float* logits, int64_t n, float* out);

}  // namespace ember::model
