#include "model/batch.h"

#include <algorithm>

#include "core/error.h"

namespace ember::model {

void Batch::add(std::span<const int32_t> seq_ids, std::span<const int32_t> seq_type_ids) {
  EMBER_CHECK(seq_type_ids.empty() || seq_type_ids.size() == seq_ids.size(),
              ErrorKind::kInvalidInput, "type ids (", seq_type_ids.size(), ") and ids (",
              seq_ids.size(), ") differ in length");
  ids.insert(ids.end(), seq_ids.begin(), seq_ids.end());
  if (seq_type_ids.empty())
    type_ids.insert(type_ids.end(), seq_ids.size(), 0);
  else
    type_ids.insert(type_ids.end(), seq_type_ids.begin(), seq_type_ids.end());
  cu_seqlens.push_back(static_cast<int32_t>(ids.size()));
}

int64_t Batch::max_seq_len() const {
  int64_t m = 0;
  for (int64_t s = 0; s < size(); ++s) m = std::max(m, seq_len(s));
  return m;
}

}  // namespace ember::model
