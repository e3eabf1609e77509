#include "core/page_out.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21  // Linux 5.4
#endif

namespace ember {

size_t page_out(const void* p, size_t bytes) {
  if (p == nullptr || bytes == 0) return 0;
  static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + bytes) / page * page;
  if (last <= first) return 0;
  // Neighbouring tensors sharing the edge pages are left resident.
  if (::madvise(reinterpret_cast<void*>(first), last - first, MADV_PAGEOUT) != 0) return 0;
  return last - first;
}

}  // namespace ember
