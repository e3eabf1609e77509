#include "core/parallel.h"

namespace ember {

void set_num_threads(int n) {
  use_compute_pool(n);
}
int num_threads() {
  return compute_pool().size();
}

}  // namespace ember
