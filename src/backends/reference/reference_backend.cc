#include "backends/reference/reference_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace ember::reference {
namespace {

class RefLinear final : public ops::Linear {
 public:
  explicit RefLinear(const ops::LinearSource& src) : Linear(src), src_(src) {}
  const ops::LinearSource& src() const { return src_; }

 private:
  ops::LinearSource src_;
};

class RefBuffer final : public ops::Buffer {
 public:
  explicit RefBuffer(std::vector<float> v)
      : Buffer(v.data(), static_cast<int64_t>(v.size())), v_(std::move(v)) {}

 private:
  std::vector<float> v_;
};

float* row(const ops::View& v, int64_t i) {
  return v.data + i * v.ld;
}

// The per-row u8 quantization of docs/quantization.md: the range [min(x, 0), max(x, 0)] onto
// [0, qmax] with a zero point, round half to even.
struct Quantized {
  std::vector<int32_t> q;
  float scale = 1.0f;
  int32_t zero_point = 0;
};
Quantized quantize_row(const float* x0, int64_t k, int32_t qmax, const float* col_scale) {
  std::vector<float> scaled;
  const float* x = x0;
  if (col_scale) {  // smoothing: the row quantized is x * col_scale, one float multiply
    scaled.resize(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i) scaled[i] = x0[i] * col_scale[i];
    x = scaled.data();
  }
  Quantized r;
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (hi > lo) {
    r.scale = (hi - lo) / static_cast<float>(qmax);
    r.zero_point = std::clamp(static_cast<int32_t>(std::nearbyint(-lo / r.scale)), 0, qmax);
  }
  const float inv = 1.0f / r.scale;
  r.q.resize(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i)
    r.q[i] = std::clamp(static_cast<int32_t>(std::nearbyint(x[i] * inv)) + r.zero_point, 0, qmax);
  return r;
}

}  // namespace

double activate(ops::Activation act, double v) {
  switch (act) {
    case ops::Activation::kNone:
      return v;
    case ops::Activation::kGeluErf:
      return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    case ops::Activation::kGeluTanh:
      return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    case ops::Activation::kRelu:
      return v > 0.0 ? v : 0.0;
    case ops::Activation::kTanh:
      return std::tanh(v);
    case ops::Activation::kSilu:
      return v / (1.0 + std::exp(-v));
  }
  fail(ErrorKind::kInternal, "unknown activation ", static_cast<int>(act));
}

std::unique_ptr<ops::Linear> ReferenceBackend::prepare_linear(const ops::LinearSource& src) {
  EMBER_CHECK(src.out > 0 && src.in > 0 && (src.w || src.is_bf16() || src.is_int8()),
              ErrorKind::kInternal, "prepare_linear: no weights");
  return std::make_unique<RefLinear>(src);
}

std::unique_ptr<ops::Weight> ReferenceBackend::prepare_weight(const float* host, int64_t numel) {
  EMBER_CHECK(host != nullptr && numel > 0, ErrorKind::kInternal, "prepare_weight: no data");
  return std::make_unique<ops::HostWeight>(host, numel);
}

std::unique_ptr<ops::Buffer> ReferenceBackend::alloc(int64_t floats) {
  return std::make_unique<RefBuffer>(std::vector<float>(static_cast<size_t>(floats)));
}

void ReferenceBackend::do_to_host(const ops::View& src, float* dst) const {
  for (int64_t i = 0; i < src.rows; ++i)
    for (int64_t j = 0; j < src.cols; ++j) dst[i * src.cols + j] = row(src, i)[j];
}

void ReferenceBackend::do_embed(const ops::EmbedArgs& a, const ops::View& out) {
  const int64_t dim = out.cols;
  const float* word = ops::host_data(a.word);
  const float* pos = ops::host_data(a.position);
  const float* type = ops::host_data(a.token_type);
  for (int64_t t = 0; t < a.tokens; ++t)
    for (int64_t i = 0; i < dim; ++i) {
      float v = word[a.ids[t] * dim + i];
      if (pos) v += pos[a.positions[t] * dim + i];
      if (type) v += type[a.type_ids[t] * dim + i];
      row(out, t)[i] = v;
    }
}

void ReferenceBackend::do_linear(const ops::Linear& w, const ops::View& x, const ops::View& y,
                                 ops::Activation act) {
  const auto* l = dynamic_cast<const RefLinear*>(&w);
  EMBER_CHECK(l != nullptr, ErrorKind::kInternal, "a Linear prepared by another backend");
  const ops::LinearSource& s = l->src();
  std::vector<double> acc(static_cast<size_t>(s.out));
  for (int64_t i = 0; i < x.rows; ++i) {
    const float* xi = row(x, i);
    if (s.is_int8()) {
      const Quantized q = quantize_row(xi, s.in, s.q.act_max, s.q.act_scale);
      for (int64_t j = 0; j < s.out; ++j) {
        int64_t dot = 0;
        for (int64_t p = 0; p < s.in; ++p) dot += int64_t{q.q[p]} * s.q.w[j * s.in + p];
        const int64_t c = dot - int64_t{q.zero_point} * s.q.col_sum[j];
        acc[j] = static_cast<double>(q.scale * s.q.scale[j]) * static_cast<double>(c);
      }
    } else if (s.is_bf16()) {
      // The definition of a bf16 Linear: x rounded to bf16 (nearest even), exact products.
      std::vector<double> xr(static_cast<size_t>(s.in));
      for (int64_t p = 0; p < s.in; ++p) xr[p] = bf16_to_float(float_to_bf16(xi[p]));
      for (int64_t j = 0; j < s.out; ++j) {
        double dot = 0.0;
        for (int64_t p = 0; p < s.in; ++p)
          dot += xr[p] * double{bf16_to_float(s.w_bf16[j * s.in + p])};
        acc[j] = dot;
      }
    } else {
      for (int64_t j = 0; j < s.out; ++j) {
        double dot = 0.0;
        for (int64_t p = 0; p < s.in; ++p) dot += double{xi[p]} * s.w[j * s.in + p];
        acc[j] = dot;
      }
    }
    for (int64_t j = 0; j < s.out; ++j)
      row(y, i)[j] = static_cast<float>(activate(act, acc[j] + (s.b ? s.b[j] : 0.0)));
  }
}

void ReferenceBackend::do_norm(const ops::View& x, const ops::View* residual, const ops::View& y,
                               const ops::NormArgs& a) {
  const float* gamma = ops::host_data(a.gamma);
  const float* beta = ops::host_data(a.beta);
  const int64_t group = a.group > 0 ? a.group : x.cols;
  std::vector<double> s(static_cast<size_t>(group));
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int64_t g0 = 0; g0 < x.cols; g0 += group) {
      for (int64_t j = 0; j < group; ++j) {
        // The residual add in float, as PyTorch does it.
        float v = row(x, i)[g0 + j];
        if (residual) v += row(*residual, i)[g0 + j];
        s[j] = v;
      }
      double mean = 0.0, sq = 0.0;
      if (a.kind == ops::NormKind::kLayerNorm) {
        for (double v : s) mean += v;
        mean /= static_cast<double>(group);
      }
      for (double v : s) sq += (v - mean) * (v - mean);
      const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(group) + a.eps);
      for (int64_t j = 0; j < group; ++j)
        row(y, i)[g0 + j] =
            static_cast<float>((s[j] - mean) * rstd * gamma[j] + (beta ? beta[j] : 0.0));
    }
  }
}

void ReferenceBackend::do_add(const ops::View& x, const ops::View& y) {
  for (int64_t i = 0; i < x.rows; ++i)
    for (int64_t j = 0; j < x.cols; ++j) row(x, i)[j] += row(y, i)[j];
}

// Hugging Face's float32 angles: inv_freq = 1 / base^(2i / dims), angle = position * inv_freq.
void ReferenceBackend::do_rotary(const ops::View& x, const ops::RotaryArgs& a) {
  const int64_t half = a.rotary_dims / 2;
  for (int64_t t = 0; t < x.rows; ++t)
    for (int64_t h = 0; h < a.heads; ++h) {
      float* v = row(x, t) + h * a.head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float inv_freq = 1.0f / std::pow(a.base, static_cast<float>(2 * i) / a.rotary_dims);
        const double angle = static_cast<float>(a.positions[t]) * inv_freq;
        const double c = static_cast<float>(std::cos(angle));
        const double s = static_cast<float>(std::sin(angle));
        const double x1 = v[i], x2 = v[half + i];
        v[i] = static_cast<float>(x1 * c - x2 * s);
        v[half + i] = static_cast<float>(x2 * c + x1 * s);
      }
    }
}

void ReferenceBackend::do_attention(const ops::View& q, const ops::View& k, const ops::View& v,
                                    const ops::SeqLayout& seqs, const ops::AttentionArgs& a,
                                    const ops::View& out) {
  const int64_t group = a.heads / a.kv_heads, dh = a.head_dim;
  std::vector<double> p;
  for (int64_t s = 0; s < seqs.sequences; ++s) {
    const int64_t begin = seqs.cu_seqlens[s], len = seqs.cu_seqlens[s + 1] - begin;
    p.assign(static_cast<size_t>(len), 0.0);
    for (int64_t h = 0; h < a.heads; ++h) {
      const int64_t qc = h * dh, kc = h / group * dh;
      for (int64_t i = 0; i < len; ++i) {
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < len; ++j) {
          const bool visible = a.mask == ops::MaskKind::kFull     ? true
                               : a.mask == ops::MaskKind::kCausal ? j <= i
                                                                  : std::llabs(i - j) <= a.window;
          if (!visible) {
            p[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          double dot = 0.0;
          for (int64_t d = 0; d < dh; ++d)
            dot += double{row(q, begin + i)[qc + d]} * row(k, begin + j)[kc + d];
          p[j] = dot * a.scale;
          if (a.rel_bias) p[j] += a.rel_bias[h * (2 * a.rel_span + 1) + (j - i) + a.rel_span];
          max = std::max(max, p[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < len; ++j) sum += (p[j] = std::exp(p[j] - max));
        for (int64_t d = 0; d < dh; ++d) {
          double o = 0.0;
          for (int64_t j = 0; j < len; ++j) o += p[j] * row(v, begin + j)[kc + d];
          row(out, begin + i)[qc + d] = static_cast<float>(o / sum);
        }
      }
    }
  }
}

void ReferenceBackend::do_disentangled_attention(const ops::View& q, const ops::View& k,
                                                 const ops::View& v, const ops::View& pos_query,
                                                 const ops::View& pos_key,
                                                 const ops::SeqLayout& seqs,
                                                 const ops::DisentangledAttentionArgs& a,
                                                 const ops::View& out) {
  const int64_t dh = a.head_dim;
  auto dot = [dh](const float* x, const float* y) {
    double s = 0.0;
    for (int64_t d = 0; d < dh; ++d) s += double{x[d]} * y[d];
    return s;
  };
  std::vector<double> p;
  for (int64_t s = 0; s < seqs.sequences; ++s) {
    const int64_t begin = seqs.cu_seqlens[s], len = seqs.cu_seqlens[s + 1] - begin;
    p.assign(static_cast<size_t>(len), 0.0);
    for (int64_t h = 0; h < a.heads; ++h) {
      const int64_t c = h * dh;
      for (int64_t i = 0; i < len; ++i) {
        const float* qi = row(q, begin + i) + c;
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < len; ++j) {
          const float* kj = row(k, begin + j) + c;
          const int64_t r = a.rel_index[i - j + a.rel_span];
          double score = dot(qi, kj);
          if (a.c2p) score += dot(qi, row(pos_key, r) + c);
          if (a.p2c) score += dot(kj, row(pos_query, r) + c);
          p[j] = score * a.scale;
          max = std::max(max, p[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < len; ++j) sum += (p[j] = std::exp(p[j] - max));
        for (int64_t d = 0; d < dh; ++d) {
          double o = 0.0;
          for (int64_t j = 0; j < len; ++j) o += p[j] * row(v, begin + j)[c + d];
          row(out, begin + i)[c + d] = static_cast<float>(o / sum);
        }
      }
    }
  }
}

void ReferenceBackend::do_gated(const ops::View& x, const ops::View& out, ops::Activation act) {
  const int64_t f = out.cols;
  for (int64_t t = 0; t < x.rows; ++t)
    for (int64_t i = 0; i < f; ++i)
      row(out, t)[i] = static_cast<float>(activate(act, row(x, t)[i]) * row(x, t)[f + i]);
}

void ReferenceBackend::do_activation(const ops::View& x, ops::Activation act) {
  for (int64_t i = 0; i < x.rows; ++i)
    for (int64_t j = 0; j < x.cols; ++j)
      row(x, i)[j] = static_cast<float>(activate(act, row(x, i)[j]));
}

void ReferenceBackend::do_gather_rows(const ops::View& x, const int32_t* rows,
                                      const ops::View& out) {
  for (int64_t i = 0; i < out.rows; ++i)
    for (int64_t j = 0; j < out.cols; ++j) row(out, i)[j] = row(x, rows[i])[j];
}

void ReferenceBackend::do_pool(const ops::View& hidden, const ops::SeqLayout& seqs,
                               ops::PoolMode mode, bool normalize, const ops::View& out) {
  const int64_t h = hidden.cols;
  for (int64_t s = 0; s < seqs.sequences; ++s) {
    const int64_t begin = seqs.cu_seqlens[s], len = seqs.cu_seqlens[s + 1] - begin;
    std::vector<double> o(static_cast<size_t>(h));
    for (int64_t i = 0; i < h; ++i) {
      double v = 0.0;
      switch (mode) {
        case ops::PoolMode::kCls:
          v = row(hidden, begin)[i];
          break;
        case ops::PoolMode::kLastToken:
          v = row(hidden, begin + len - 1)[i];
          break;
        case ops::PoolMode::kMax:
          v = -std::numeric_limits<double>::infinity();
          for (int64_t t = 0; t < len; ++t) v = std::max<double>(v, row(hidden, begin + t)[i]);
          break;
        case ops::PoolMode::kMean:
        case ops::PoolMode::kMeanSqrtLen:
          for (int64_t t = 0; t < len; ++t) v += row(hidden, begin + t)[i];
          v /= mode == ops::PoolMode::kMean ? static_cast<double>(len)
                                            : std::sqrt(static_cast<double>(len));
          break;
      }
      o[i] = v;
    }
    double norm = 1.0;
    if (normalize) {
      double sq = 0.0;
      for (double v : o) sq += v * v;
      norm = std::max(std::sqrt(sq), 1e-12);
    }
    for (int64_t i = 0; i < h; ++i) row(out, s)[i] = static_cast<float>(o[i] / norm);
  }
}

// By the definition: transform every logit, then pool.
void ReferenceBackend::do_sparse_pool(const ops::View& logits, const ops::SeqLayout& seqs,
                                      const ops::SparsePoolArgs& a, const ops::View& out) {
  for (int64_t s = 0; s < seqs.sequences; ++s)
    for (int64_t v = 0; v < logits.cols; ++v) {
      double acc = a.max ? -std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t t = seqs.cu_seqlens[s]; t < seqs.cu_seqlens[s + 1]; ++t) {
        double f = std::log1p(std::max(0.0, double{row(logits, t)[v]}));
        if (a.double_log) f = std::log1p(f);
        acc = a.max ? std::max(acc, f) : acc + f;
      }
      row(out, s)[v] = static_cast<float>(acc);
    }
}

}  // namespace ember::reference
