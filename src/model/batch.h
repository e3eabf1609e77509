// The packed batch: every sequence concatenated, no padding anywhere. Sequence s spans
// tokens [cu_seqlens[s], cu_seqlens[s+1]). Every linear layer runs on [num_tokens, hidden].
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ops/types.h"

namespace ember::model {

struct Batch {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<int32_t> cu_seqlens{0};

  // type_ids may be empty (all zeros).
  void add(std::span<const int32_t> seq_ids, std::span<const int32_t> seq_type_ids = {});
  int64_t size() const { return static_cast<int64_t>(cu_seqlens.size()) - 1; }
  int64_t num_tokens() const { return static_cast<int64_t>(ids.size()); }
  int64_t seq_begin(int64_t s) const { return cu_seqlens[s]; }
  int64_t seq_len(int64_t s) const { return cu_seqlens[s + 1] - cu_seqlens[s]; }
  int64_t max_seq_len() const;
  ops::SeqLayout layout() const { return {cu_seqlens.data(), size()}; }
};

}  // namespace ember::model
