#include "runtime/keep_fp32.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/error.h"
#include "model/int8_weights.h"

namespace ember::runtime {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A non-negative decimal integer, the whole of `s`; -1 otherwise.
int64_t parse_count(std::string_view s) {
  int64_t v = -1;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v < 0) return -1;
  return v;
}

int parse_kind(std::string_view kind, std::string_view item) {
  for (int k = 0; k < model::kLinearKindCount; ++k)
    if (kind == model::kLinearKinds[k]) return k;
  EMBER_CHECK(kind != "q" && kind != "k" && kind != "v", ErrorKind::kInvalidInput,
              "--keep-fp32 item '", item, "': Q, K and V run as one fused Linear; keep 'qkv'");
  fail(ErrorKind::kInvalidInput, "--keep-fp32 item '", item, "': unknown Linear kind '", kind,
       "' (kinds: qkv, attn_out, ffn_in, ffn_out)");
}

}  // namespace

KeepFp32 parse_keep_fp32(std::string_view spec) {
  KeepFp32 keep;
  size_t from = 0;
  while (from <= spec.size()) {
    const size_t comma = std::min(spec.find(',', from), spec.size());
    const std::string_view item = trim(spec.substr(from, comma - from));
    from = comma + 1;
    EMBER_CHECK(!item.empty(), ErrorKind::kInvalidInput, "--keep-fp32 '", spec,
                "' has an empty item");
    if (item.substr(0, 5) == "auto:") {
      EMBER_CHECK(keep.auto_count == 0, ErrorKind::kInvalidInput, "--keep-fp32 '", spec,
                  "' has more than one auto:N");
      keep.auto_count = parse_count(item.substr(5));
      EMBER_CHECK(keep.auto_count > 0, ErrorKind::kInvalidInput, "--keep-fp32 item '", item,
                  "': auto:N needs a positive whole number of Linears");
      continue;
    }
    KeepFp32::Item it;
    if (item.substr(0, 6) == "layer.") {
      const std::string_view rest = item.substr(6);
      const size_t dot = rest.find('.');
      it.layer = parse_count(rest.substr(0, dot));
      EMBER_CHECK(it.layer >= 0, ErrorKind::kInvalidInput, "--keep-fp32 item '", item,
                  "': the layer index must be a non-negative whole number (layer.N or "
                  "layer.N.KIND)");
      if (dot != std::string_view::npos) it.kind = parse_kind(rest.substr(dot + 1), item);
    } else {
      it.kind = parse_kind(item, item);
    }
    keep.items.push_back(it);
  }
  return keep;
}

std::vector<bool> resolve_keep_fp32(const KeepFp32& keep, int64_t layers) {
  const int kinds = model::kLinearKindCount;
  std::vector<bool> out(static_cast<size_t>(layers * kinds), false);
  for (const KeepFp32::Item& it : keep.items) {
    EMBER_CHECK(it.layer < layers, ErrorKind::kInvalidInput, "--keep-fp32: layer ", it.layer,
                " is out of range: the model has ", layers, " layers (0-", layers - 1, ")");
    for (int64_t l = 0; l < layers; ++l)
      for (int k = 0; k < kinds; ++k)
        if ((it.layer < 0 || it.layer == l) && (it.kind < 0 || it.kind == k))
          out[static_cast<size_t>(l * kinds + k)] = true;
  }
  return out;
}

void keep_most_sensitive(const std::vector<double>& score, int64_t count, std::vector<bool>& keep) {
  std::vector<size_t> free;
  for (size_t i = 0; i < score.size(); ++i)
    if (!keep[i] && !std::isnan(score[i])) free.push_back(i);
  EMBER_CHECK(count <= static_cast<int64_t>(free.size()), ErrorKind::kInvalidInput,
              "--keep-fp32 auto:", count, ": only ", free.size(),
              " encoder Linears are left to choose from");
  std::stable_sort(free.begin(), free.end(),
                   [&](size_t a, size_t b) { return score[a] > score[b]; });
  for (int64_t i = 0; i < count; ++i) keep[free[static_cast<size_t>(i)]] = true;
}

}  // namespace ember::runtime
