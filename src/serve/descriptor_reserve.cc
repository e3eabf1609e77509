#include "serve/descriptor_reserve.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ember::serve {

size_t default_max_connections() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
  const auto n = static_cast<size_t>(limit.rlim_cur);
  return n - std::min<size_t>(64, n / 4);
}

DescriptorReserve::DescriptorReserve() : spare_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

DescriptorReserve::~DescriptorReserve() {
  if (spare_ >= 0) ::close(spare_);
}

int DescriptorReserve::refuse_pending(int listen_fd, int max) {
  int refused = 0;
  while (refused < max && spare_ >= 0) {
    ::close(spare_);
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    const int accept_errno = errno;
    if (fd >= 0) ::close(fd);
    // Another thread may take the descriptor just freed; then there is no spare until one
    // frees up again, and the next call tries anew.
    spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (accept_errno == EINTR || accept_errno == ECONNABORTED) continue;
      break;  // nothing pending (EAGAIN), or still no descriptor
    }
    ++refused;
  }
  if (spare_ < 0) spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return refused;
}

}  // namespace ember::serve
