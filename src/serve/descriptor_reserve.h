// File descriptors for the HTTP acceptor: how many connections the process can hold, and one
// descriptor kept in reserve for the moment it can hold no more.
//
// At the descriptor limit, accept() fails with EMFILE while the connection stays in the listen
// queue, so the listening socket stays readable: an acceptor that simply waits again spins at
// full CPU and the client hangs. With a spare descriptor the acceptor can close it, accept the
// pending connection, close that at once (the client sees the connection closed, quickly) and
// open the spare again.
#pragma once

#include <cstddef>

namespace ember::serve {

// The connections the server takes by default: the soft RLIMIT_NOFILE less what it keeps for
// its own work (gRPC, the model files, /proc, timers and the event loops): a quarter of the
// limit, at most 64 descriptors.
size_t default_max_connections();

class DescriptorReserve {
 public:
  DescriptorReserve();  // opens /dev/null; without it refuse_pending() accepts nothing
  ~DescriptorReserve();
  DescriptorReserve(const DescriptorReserve&) = delete;
  DescriptorReserve& operator=(const DescriptorReserve&) = delete;

  // Accepts and closes at once up to `max` connections waiting on the non-blocking listening
  // socket `listen_fd`, using the spare descriptor for each; returns how many.
  int refuse_pending(int listen_fd, int max);

 private:
  int spare_ = -1;
};

}  // namespace ember::serve
