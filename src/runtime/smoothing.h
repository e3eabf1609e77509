// Per-input-channel smoothing for int8 (docs/quantization.md, "Smoothing"): outlier channels of
// a Linear's input stretch each row's quantization range; dividing input channel j by
//   s_j = max|x_j|^alpha / max|w_:,j|^(1 - alpha)
// and multiplying the weights' column j by it leaves x w^T unchanged in exact arithmetic and
// moves the outliers' range into the weights, whose per-output-channel scales absorb it better.
// max|x_j| comes from running the float model over calibration batches: tokenized text, or,
// needing no file, random token ids (the outlier channels of BERT-family models are systematic
// across inputs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_dir.h"
#include "model/batch.h"
#include "model/model.h"

namespace ember::runtime {

// max|x_j| of the inputs of every encoder layer's Linears (host vectors, one per input column).
struct LayerInputRange {
  std::vector<float> qkv, attn_out, ffn_in, ffn_out;
};

// Loads the float model of `files` and runs it on a CPU backend with `threads` compute threads
// (0: all cores) over `batches`.
std::vector<LayerInputRange> input_ranges(const io::ModelFiles& files,
                                          const std::vector<model::Batch>& batches, int threads);

// The special tokens the tokenizer puts around one text (BERT: [CLS] before, [SEP] after).
struct SpecialFrame {
  std::vector<int32_t> before, after;
};
// The frame of the model's tokenizer.json; none when the model has no tokenizer.
SpecialFrame special_frame(const io::ModelFiles& files);

// `count` batches of `sequences` inputs of ids drawn uniformly (seeded) from the upper part of
// the vocabulary (ids >= min(1000, vocab / 2): past the special and unused tokens of BERT-style
// vocabularies), inside `frame`, as the tokenizer frames a text: every other input `tokens`
// long, the others 1-16 ids (short inputs put most weight on the special tokens' rows, where
// the outlier channels are largest).
std::vector<model::Batch> random_id_batches(const model::ModelSpec& spec, uint64_t seed,
                                            int64_t count, int64_t sequences, int64_t tokens,
                                            const SpecialFrame& frame = {});

// The input scales of one Linear: s_j as above, from the input range and the float weights
// w [rows, cols] (one s for all the projections that share an input: pass their max |w| per
// column via `col_max`). Channels with no signal (max|x_j| or max|w_:,j| zero) get s_j = 1.
std::vector<float> smoothing_scales(const std::vector<float>& x_max,
                                    const std::vector<float>& col_max, double alpha);

// max |w[:, j]| over the rows of w [rows, cols], folded into col_max (resized to cols).
void column_abs_max(const float* w, int64_t rows, int64_t cols, std::vector<float>& col_max);

// Which encoder Linear of `model` a checkpoint tensor w [rows, cols] is: the layer and the part
// (0 qkv, 1 attn_out, 2 ffn_in, 3 ffn_out) whose bound float weights hold exactly these rows,
// or {-1, -1} when none does (then the tensor is quantized without smoothing).
struct LinearSlot {
  int64_t layer = -1;
  int part = -1;
};
LinearSlot find_linear(const model::Model& model, const std::string& name, const float* w,
                       int64_t rows, int64_t cols);

}  // namespace ember::runtime
