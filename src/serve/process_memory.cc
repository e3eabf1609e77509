#include "serve/process_memory.h"

#include <malloc.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace ember::serve {
namespace {

// "Key:   123 kB" from a /proc file, in bytes; -1 when absent.
int64_t proc_kib_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0 || line.size() <= key.size() ||
        line[key.size()] != ':')
      continue;
    std::istringstream fields(line.substr(key.size() + 1));
    int64_t kib = -1;
    fields >> kib;
    return kib < 0 ? -1 : kib * 1024;
  }
  return -1;
}

// A number in a cgroup file ("max" or unreadable: -1).
int64_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s) || s == "max") return -1;
  try {
    return std::stoll(s);
  } catch (...) {
    return -1;
  }
}

// The cgroup's limit minus its usage, for cgroup v2 (unified, "0::/path") and v1 ("memory:"
// controller); -1 when there is no limit.
int64_t cgroup_headroom() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  int64_t best = -1;
  auto consider = [&best](int64_t limit, int64_t usage) {
    // v1 reports "no limit" as a huge page-rounded number.
    if (limit <= 0 || limit >= (int64_t{1} << 60)) return;
    const int64_t headroom = std::max<int64_t>(0, limit - std::max<int64_t>(usage, 0));
    best = best < 0 ? headroom : std::min(best, headroom);
  };
  while (std::getline(in, line)) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      for (const std::string& dir : {"/sys/fs/cgroup" + path, std::string("/sys/fs/cgroup")})
        consider(read_number(dir + "/memory.max"), read_number(dir + "/memory.current"));
    } else if (controllers.find("memory") != std::string::npos) {
      for (const std::string& dir :
           {"/sys/fs/cgroup/memory" + path, std::string("/sys/fs/cgroup/memory")})
        consider(read_number(dir + "/memory.limit_in_bytes"),
                 read_number(dir + "/memory.usage_in_bytes"));
    }
  }
  return best;
}

}  // namespace

int64_t available_memory_bytes() {
  const int64_t available = proc_kib_field("/proc/meminfo", "MemAvailable");
  const int64_t cgroup = cgroup_headroom();
  if (available < 0) return std::max<int64_t>(cgroup, 0);
  return cgroup < 0 ? available : std::min(available, cgroup);
}

int64_t resident_bytes() {
  return std::max<int64_t>(proc_kib_field("/proc/self/status", "VmRSS"), 0);
}

int64_t peak_resident_bytes() {
  return std::max<int64_t>(proc_kib_field("/proc/self/status", "VmHWM"), 0);
}

void configure_malloc(int arena_max, int64_t mmap_threshold) {
  if (arena_max > 0) mallopt(M_ARENA_MAX, arena_max);
  if (mmap_threshold > 0) {
    const int t = static_cast<int>(std::min<int64_t>(mmap_threshold, 32 << 20));
    mallopt(M_MMAP_THRESHOLD, t);
    // The top of the heap goes back at the same size, not at glibc's sliding threshold.
    mallopt(M_TRIM_THRESHOLD, t);
  }
}

MallocTrimmer::MallocTrimmer(std::chrono::milliseconds interval)
    : interval_(interval), thread_([this] { loop(); }) {}

MallocTrimmer::~MallocTrimmer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void MallocTrimmer::request() {
  {
    std::lock_guard lock(mutex_);
    wanted_ = true;
  }
  cv_.notify_one();
}

uint64_t MallocTrimmer::trims() const {
  std::lock_guard lock(mutex_);
  return trims_;
}

void MallocTrimmer::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return wanted_ || stopping_; });
    if (stopping_) return;
    wanted_ = false;
    lock.unlock();
    malloc_trim(0);
    lock.lock();
    ++trims_;
    // Requests that arrive meanwhile are served by one trim after the interval.
    if (cv_.wait_for(lock, interval_, [this] { return stopping_; })) return;
  }
}

}  // namespace ember::serve
