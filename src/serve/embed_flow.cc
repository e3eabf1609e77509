// The embedding path shared by TEI /embed and OpenAI /v1/embeddings: tokenize here, queue,
// post-process and format on the request's strand when the batcher completes.
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "serve/errors.h"
#include "serve/routes.h"

namespace ember::serve {
namespace {

Embeddings postprocess(const JobResult& r, int64_t count, std::optional<int64_t> dimensions,
                       bool normalize) {
  Embeddings e;
  e.count = count;
  e.dims = dimensions.value_or(r.hidden_size);
  e.values.resize(static_cast<size_t>(count * e.dims));
  for (int64_t i = 0; i < count; ++i) {
    const float* src = r.pooled.data() + i * r.hidden_size;
    float* dst = e.values.data() + i * e.dims;
    std::copy_n(src, e.dims, dst);
    if (!normalize) continue;
    double ss = 0;
    for (int64_t d = 0; d < e.dims; ++d) ss += static_cast<double>(dst[d]) * dst[d];
    // sentence-transformers' Normalize: x / max(||x||, 1e-12)
    const double scale = 1.0 / std::max(std::sqrt(ss), 1e-12);
    for (int64_t d = 0; d < e.dims; ++d) dst[d] = static_cast<float>(dst[d] * scale);
  }
  return e;
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
  TokenizedInputs tokenized = tokenize_inputs(inputs, ctx.engine, rules);
  Timings timings;
  timings.tokenization_ms = ms_between(t0, Clock::now());
  timings.tokens = tokenized.tokens;
  const int64_t count = static_cast<int64_t>(tokenized.sequences.size());

  Job job;
  job.sequences = std::move(tokenized.sequences);
  if (ctx.limits.request_timeout_ms > 0)
    job.deadline = req.received + std::chrono::milliseconds(ctx.limits.request_timeout_ms);
  Metrics* metrics = &ctx.metrics;
  job.done = [post = req.post, reply, format = std::move(format), timings, count, dimensions,
              normalize, metrics](JobResult result) mutable {
    // Scheduler thread: hand off at once; formatting runs on the request's I/O strand.
    post([reply = std::move(reply), format = std::move(format), timings, count, dimensions,
          normalize, metrics, result = std::move(result)]() mutable {
      Timings t = timings;
      t.queue_ms = result.queue_ms;
      t.inference_ms = result.inference_ms;
      Response res;
      try {
        if (result.error) throw *result.error;
        Embeddings e = postprocess(result, count, dimensions, normalize);
        e.tokens = t.tokens;
        res = format(e);
        metrics->observe_stages(t.tokenization_ms / 1e3, t.queue_ms / 1e3, t.inference_ms / 1e3);
      } catch (...) {
        res = error_response(std::current_exception());
      }
      res.timings = t;
      reply(std::move(res));
    });
  };
  ctx.batcher.submit(std::move(job));  // kOverloaded / kUnavailable -> 429 / 503 via router
}

void append_floats(std::string& out, const float* v, int64_t n) {
  out += '[';
  char buf[32];
  for (int64_t i = 0; i < n; ++i) {
    if (i) out += ',';
    if (!std::isfinite(v[i])) {
      out += "null";
      continue;
    }
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v[i]);
    out.append(buf, ec == std::errc() ? end : buf);
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
