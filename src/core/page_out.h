// Handing memory that is no longer read back to the kernel.
#pragma once

#include <cstddef>

namespace ember {

// Asks the kernel to reclaim the whole pages inside [p, p + bytes) (madvise MADV_PAGEOUT):
// pages of a file mapping are dropped and read again from the file if touched, anonymous pages
// go to swap or stay. It never changes what the memory reads, so it is safe on any memory,
// mapped or owned. Returns the bytes advised (0 where the kernel does not support it).
size_t page_out(const void* p, size_t bytes);

}  // namespace ember
