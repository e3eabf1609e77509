// The embedding path shared by TEI /embed and OpenAI /v1/embeddings: tokenize here, queue,
// post-process and format on the request's I/O thread when the batcher completes.
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "serve/errors.h"
#include "serve/request_cost.h"
#include "serve/routes.h"

namespace ember::serve {
namespace {

// One input's embedding: Matryoshka cut to `dims`, then sentence-transformers' Normalize
// (x / max(||x||, 1e-12)) if asked.
std::vector<float> postprocess(const float* src, int64_t dims, bool normalize) {
  std::vector<float> v(src, src + dims);
  if (!normalize) return v;
  double ss = 0;
  for (const float x : v) ss += static_cast<double>(x) * x;
  const double scale = 1.0 / std::max(std::sqrt(ss), 1e-12);
  for (float& x : v) x = static_cast<float>(x * scale);
  return v;
}

}  // namespace

std::optional<int64_t> get_dimensions(const nlohmann::json& body, int64_t hidden_size) {
  const auto it = body.find("dimensions");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > hidden_size)
    throw HttpError(422, error_type::kValidation,
                    cat("\"dimensions\" must be an integer in [1, ", hidden_size, "]"));
  return it->get<int64_t>();
}

void embed_async(const ServeContext& ctx, const Request& req, Reply reply,
                 const nlohmann::json& inputs, const InputRules& rules, bool normalize,
                 std::optional<int64_t> dimensions, FormatEmbeddings format) {
  const auto t0 = Clock::now();
  TokenizedInputs tokenized = tokenize_inputs(inputs, ctx.model, rules);
  Timings timings;
  timings.tokenization_ms = ms_between(t0, Clock::now());
  timings.tokens = tokenized.tokens;
  const int64_t dims = dimensions.value_or(ctx.model.info().hidden_size);

  InferPlan plan;
  plan.answer_bytes = embeddings_answer_cost(static_cast<int64_t>(tokenized.sequences.size()),
                                             ctx.model.info().hidden_size, dims);
  plan.cache_scope =
      cat("embed|pool=", ctx.model.info().pooling, "|n=", normalize ? 1 : 0, "|d=", dims);
  plan.outputs = ember::kPooled;
  plan.extract = [dims, normalize](const JobResult& r, size_t row) {
    return postprocess(r.pooled.data() + row * r.hidden_size, dims, normalize);
  };
  if (tokenized.pool_from > 0) {  // include_prompt false: pooled here, past the prompt
    const int64_t hidden = ctx.model.info().hidden_size;
    plan.answer_bytes += hidden_states_answer_cost(tokenized.tokens, hidden);
    plan.cache_scope += cat("|prompt=", tokenized.pool_from);
    plan.outputs = ember::kHidden;
    plan.extract = [dims, normalize, hidden, from = tokenized.pool_from, model = &ctx.model](
                       const JobResult& r, size_t row) {
      const auto& h = r.hidden[row];
      const auto pooled = model->pool(h.data(), static_cast<int64_t>(h.size()) / hidden, from);
      return postprocess(pooled.data(), dims, normalize);
    };
  }
  plan.format = [dims, tokens = timings.tokens,
                 format = std::move(format)](const std::vector<std::vector<float>>& rows) {
    Embeddings e;
    e.count = static_cast<int64_t>(rows.size());
    e.dims = dims;
    e.tokens = tokens;
    e.values.reserve(rows.size() * static_cast<size_t>(dims));
    for (const auto& r : rows) e.values.insert(e.values.end(), r.begin(), r.end());
    return format(e);
  };
  infer_async(ctx, req, std::move(reply), std::move(tokenized), timings, std::move(plan));
}

void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, ec == std::errc() ? end : buf);
}

void append_floats(std::string& out, const float* v, int64_t n) {
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (i) out += ',';
    append_float(out, v[i]);
  }
  out += ']';
}

std::string base64_floats(const float* v, int64_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static_assert(std::endian::native == std::endian::little, "base64 floats are little-endian");
  const auto* bytes = reinterpret_cast<const unsigned char*>(v);
  const size_t len = static_cast<size_t>(n) * sizeof(float);
  std::string out;
  out.reserve((len + 2) / 3 * 4);
  for (size_t i = 0; i < len; i += 3) {
    const uint32_t b0 = bytes[i], b1 = i + 1 < len ? bytes[i + 1] : 0,
                   b2 = i + 2 < len ? bytes[i + 2] : 0;
    const uint32_t w = (b0 << 16) | (b1 << 8) | b2;
    out += kAlphabet[(w >> 18) & 63];
    out += kAlphabet[(w >> 12) & 63];
    out += i + 1 < len ? kAlphabet[(w >> 6) & 63] : '=';
    out += i + 2 < len ? kAlphabet[w & 63] : '=';
  }
  return out;
}

}  // namespace ember::serve
