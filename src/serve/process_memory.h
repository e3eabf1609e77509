// What the machine and this process hold: the memory a server may plan on (MemAvailable, or
// the cgroup's limit when lower), the process's resident set from /proc/self/status, and
// glibc malloc's settings and trimming, so that memory freed after a spike goes back to the
// system instead of staying in malloc's arenas.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace ember::serve {

// min(MemAvailable, the cgroup's memory limit (v2 memory.max or v1 limit_in_bytes) minus what
// the cgroup already uses); 0 when neither can be read.
int64_t available_memory_bytes();

// VmRSS / VmHWM of this process, in bytes (0 if /proc cannot be read).
int64_t resident_bytes();
int64_t peak_resident_bytes();

// glibc malloc: at most `arena_max` arenas (0: glibc's default, 8 per core), and blocks of at
// least `mmap_threshold` bytes in their own mappings, returned to the system on free (0:
// glibc's sliding threshold, which grows to 32 MiB and then keeps large blocks in the heap).
void configure_malloc(int arena_max, int64_t mmap_threshold);

// Returns the free pages of every malloc arena to the system (malloc_trim) on its own thread,
// when asked, at most once per `interval`: the budget asks after a large request is released.
class MallocTrimmer {
 public:
  explicit MallocTrimmer(std::chrono::milliseconds interval);
  ~MallocTrimmer();
  MallocTrimmer(const MallocTrimmer&) = delete;
  MallocTrimmer& operator=(const MallocTrimmer&) = delete;

  void request();  // thread-safe, never blocks on the trim
  uint64_t trims() const;

 private:
  void loop();
  const std::chrono::milliseconds interval_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool wanted_ = false, stopping_ = false;
  uint64_t trims_ = 0;
  std::thread thread_;
};

}  // namespace ember::serve
