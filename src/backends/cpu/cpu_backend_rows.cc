// CpuBackend's row-wise ops: embedding gather, residual add, rotary positions, gated
// activations, row gathers and pooling. Memory-bound loops, rows in parallel.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/row_dispatch.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"

namespace ember::cpu {

void CpuBackend::do_embed(const ops::EmbedArgs& a, const ops::View& out) {
  const PoolScope scope(pool_);
  profile::Scope prof("embed rows");  // inside the model's "embed" (positions, LayerNorm)
  const int64_t dim = out.cols;
  const float* word = ops::host_data(a.word);
  const float* pos = ops::host_data(a.position);
  const float* type = ops::host_data(a.token_type);
  parallel_for(a.tokens, 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float* w = word + static_cast<int64_t>(a.ids[t]) * dim;
      const float* p = pos ? pos + static_cast<int64_t>(a.positions[t]) * dim : nullptr;
      const float* ty = type ? type + static_cast<int64_t>(a.type_ids[t]) * dim : nullptr;
      float* o = out.data + t * out.ld;
      if (p && ty) {
        for (int64_t i = 0; i < dim; ++i) o[i] = w[i] + p[i] + ty[i];
      } else if (p) {
        for (int64_t i = 0; i < dim; ++i) o[i] = w[i] + p[i];
      } else if (ty) {
        for (int64_t i = 0; i < dim; ++i) o[i] = w[i] + ty[i];
      } else {
        std::memcpy(o, w, sizeof(float) * dim);
      }
    }
  });
}

void CpuBackend::do_add(const ops::View& x, const ops::View& y) {
  const PoolScope scope(pool_);
  parallel_for(x.rows, detail::row_grain(x.cols), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float* xi = x.data + i * x.ld;
      const float* yi = y.data + i * y.ld;
      for (int64_t j = 0; j < x.cols; ++j) xi[j] += yi[j];
    }
  });
}

// Angles as Hugging Face computes them in float32 (inverse frequencies, then position times
// frequency, each rounded to float), cos and sin of that float angle.
void CpuBackend::do_rotary(const ops::View& x, const ops::RotaryArgs& a) {
  const PoolScope scope(pool_);
  const int64_t half = a.rotary_dims / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[i] = 1.0f / std::pow(a.base, static_cast<float>(2 * i) / a.rotary_dims);
  parallel_for(x.rows, 8, [&](int64_t b, int64_t e) {
    std::vector<float> cs(static_cast<size_t>(2 * half));
    for (int64_t t = b; t < e; ++t) {
      const float p = static_cast<float>(a.positions[t]);
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(p * inv_freq[i]);
        cs[i] = static_cast<float>(std::cos(angle));
        cs[half + i] = static_cast<float>(std::sin(angle));
      }
      for (int64_t h = 0; h < a.heads; ++h) {
        float* v = x.data + t * x.ld + h * a.head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const float x1 = v[i], x2 = v[half + i], c = cs[i], s = cs[half + i];
          v[i] = x1 * c - x2 * s;
          v[half + i] = x2 * c + x1 * s;
        }
      }
    }
  });
}

void CpuBackend::do_gated(const ops::View& x, const ops::View& out, ops::Activation act) {
  const PoolScope scope(pool_);
  const int64_t f = out.cols;
  const detail::RowEpilogue fn = detail::row_epilogue(act, false);
  parallel_for(x.rows, detail::row_grain(f), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* o = out.data + t * out.ld;
      const float* in = x.data + t * x.ld;
      std::memcpy(o, in, sizeof(float) * f);
      if (fn) fn(o, nullptr, f);
      for (int64_t i = 0; i < f; ++i) o[i] *= in[f + i];
    }
  });
}

void CpuBackend::do_gather_rows(const ops::View& x, const int32_t* rows, const ops::View& out) {
  for (int64_t i = 0; i < out.rows; ++i)
    std::memcpy(out.data + i * out.ld, x.data + static_cast<int64_t>(rows[i]) * x.ld,
                sizeof(float) * out.cols);
}

// As sentence-transformers pools: sums in double, divided by the length (mean) or its square
// root (mean_sqrt_len_tokens); normalisation divides by max(||v||, 1e-12).
void CpuBackend::do_pool(const ops::View& hidden, const ops::SeqLayout& seqs, ops::PoolMode mode,
                         bool normalize, const ops::View& out) {
  const PoolScope scope(pool_);
  const int64_t h = hidden.cols;
  parallel_for(seqs.sequences, 1, [&](int64_t b, int64_t e) {
    std::vector<double> acc(static_cast<size_t>(h));
    for (int64_t s = b; s < e; ++s) {
      const int64_t begin = seqs.cu_seqlens[s], len = seqs.cu_seqlens[s + 1] - begin;
      float* o = out.data + s * out.ld;
      auto row = [&](int64_t t) { return hidden.data + (begin + t) * hidden.ld; };
      switch (mode) {
        case ops::PoolMode::kCls:
          std::memcpy(o, row(0), sizeof(float) * h);
          break;
        case ops::PoolMode::kLastToken:
          std::memcpy(o, row(len - 1), sizeof(float) * h);
          break;
        case ops::PoolMode::kMax:
          std::fill(o, o + h, -std::numeric_limits<float>::infinity());
          for (int64_t t = 0; t < len; ++t)
            for (int64_t i = 0; i < h; ++i) o[i] = std::max(o[i], row(t)[i]);
          break;
        case ops::PoolMode::kMean:
        case ops::PoolMode::kMeanSqrtLen: {
          std::fill(acc.begin(), acc.end(), 0.0);
          for (int64_t t = 0; t < len; ++t)
            for (int64_t i = 0; i < h; ++i) acc[i] += row(t)[i];
          const double div = mode == ops::PoolMode::kMean ? static_cast<double>(len)
                                                          : std::sqrt(static_cast<double>(len));
          for (int64_t i = 0; i < h; ++i) o[i] = static_cast<float>(acc[i] / div);
          break;
        }
      }
      if (normalize) {
        double norm = 0;
        for (int64_t i = 0; i < h; ++i) norm += static_cast<double>(o[i]) * o[i];
        const double inv = 1.0 / std::max(std::sqrt(norm), 1e-12);
        for (int64_t i = 0; i < h; ++i) o[i] = static_cast<float>(o[i] * inv);
      }
    }
  });
}

// SPLADE pooling. log1p(relu(x)) is non-decreasing, so the max over tokens of the transformed
// logits is the transform of the max logit: the transform runs on [B, V], not [T, V]. Sums
// transform every logit.
void CpuBackend::do_sparse_pool(const ops::View& logits, const ops::SeqLayout& seqs,
                                const ops::SparsePoolArgs& a, const ops::View& out) {
  const PoolScope scope(pool_);
  const int64_t v_cols = logits.cols;
  constexpr int64_t kCols = 1024;  // a column block of a sequence per task
  const int64_t blocks = (v_cols + kCols - 1) / kCols;
  auto f = [&](float x) {
    float y = std::log1p(std::max(x, 0.0f));
    return a.double_log ? std::log1p(y) : y;
  };
  parallel_for(seqs.sequences * blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t s = task / blocks, c0 = task % blocks * kCols;
      const int64_t n = std::min(kCols, v_cols - c0);
      float* o = out.data + s * out.ld + c0;
      const int64_t t0 = seqs.cu_seqlens[s], t1 = seqs.cu_seqlens[s + 1];
      if (a.max) {
        std::copy_n(logits.data + t0 * logits.ld + c0, n, o);
        for (int64_t t = t0 + 1; t < t1; ++t) {
          const float* x = logits.data + t * logits.ld + c0;
          for (int64_t i = 0; i < n; ++i) o[i] = std::max(o[i], x[i]);
        }
        for (int64_t i = 0; i < n; ++i) o[i] = f(o[i]);
      } else {
        std::fill_n(o, n, 0.0f);
        for (int64_t t = t0; t < t1; ++t) {
          const float* x = logits.data + t * logits.ld + c0;
          for (int64_t i = 0; i < n; ++i) o[i] += f(x[i]);
        }
      }
    }
  });
}

}  // namespace ember::cpu
