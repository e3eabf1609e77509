// How close a pruned (or quantized) model's sentence embeddings stay to its base model's, on
// labeled sentences (e.g. the VADER sets, rating sign as label), on a seeded held-out split:
//  - fidelity: mean cosine between the two models' embeddings of each held-out sentence;
//  - probe accuracy: a logistic-regression sentiment probe trained on each model's own
//    embeddings of the training split, scored on the held-out split (or, with `folds`, k-fold
//    cross-validated over every text: each text is held out once, so the accuracy moves in
//    steps of one text in all of them instead of one in the held-out split); and the base
//    model's probe scored on the other model's embeddings (what an already trained probe sees);
//  - neighbour overlap: for each held-out sentence, the share of its k nearest held-out
//    neighbours (cosine) that the two models agree on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "runtime/engine.h"

namespace ember::prune {

struct LabeledText {
  std::string text;
  int label = 0;  // 0 or 1
};

// "id<TAB>rating<TAB>text" lines (VADER's *_GroundTruth.txt); rating 0 (no sign) is skipped.
// kNotFound / kInvalidInput (no usable line).
std::vector<LabeledText> read_rated_sentences(const std::filesystem::path& path);

struct QualityOptions {
  double train_fraction = 0.7;
  int64_t neighbours = 10;
  uint64_t seed = 20141;
  // >= 2: the probe accuracies are k-fold cross-validated over all texts (the cosine and the
  // neighbour overlap stay on the held-out split).
  int folds = 0;
};

// The cosine of every text's two embeddings (all texts, not only the held-out split): the
// per-embedding view that an int8 copy's bound is stated in (docs/quantization.md).
struct CosineSpread {
  double mean = 0, min = 1;
  double p1 = 1;                                 // the first percentile
  int64_t below_0_99 = 0;                        // texts under 0.99
  std::vector<std::pair<double, size_t>> worst;  // the five lowest: (cosine, text index)
};
CosineSpread cosine_spread(const std::vector<float>& base, const std::vector<float>& other,
                           int64_t dim);

struct Quality {
  int64_t train = 0, test = 0;
  double mean_cosine = 0, min_cosine = 0;
  double probe_accuracy_base = 0, probe_accuracy = 0;
  double probe_accuracy_base_probe = 0;  // the base's probe on the other model's embeddings
  int64_t probe_texts = 0;               // texts the probe accuracies are counted over
  double neighbour_overlap = 0;
  CosineSpread every_text;  // over all texts
};

// Sentence embeddings [texts][hidden] flattened, in batches of 64.
std::vector<float> embed_texts(const runtime::Engine& engine,
                               const std::vector<LabeledText>& texts);

// Mean cosine and k-nearest-neighbour overlap of two embeddings of the same texts ([texts][dim]
// flattened), `other` against `base`.
struct Fidelity {
  double mean_cosine = 0, neighbour_overlap = 0;
};
Fidelity compare_embeddings(const std::vector<float>& base, const std::vector<float>& other,
                            int64_t dim, int64_t neighbours);

// The share of `labels` (one per sequence of `batches`, in order) that a sequence-classification
// model's argmax matches.
double label_accuracy(const runtime::Engine& engine, const std::vector<model::Batch>& batches,
                      const std::vector<int>& labels);

Quality compare_quality(const runtime::Engine& base, const runtime::Engine& other,
                        const std::vector<LabeledText>& texts, const QualityOptions& options);

}  // namespace ember::prune
