// Per-op wall-time profile, off unless EMBER_PROFILE=1 (then every op call is timed with
// steady_clock, ~50 ns each, and with the process's CPU clock, ~1 us each, and a table of time
// per label is printed to stderr at exit).
// Use: `EMBER_PROFILE=1 ember bench --grid 1x16 ...`. Labels are string literals or short
// strings built only when profiling is on (see ops/linear.cc).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace ember::profile {

bool enabled();  // EMBER_PROFILE set to a value other than "0" / ""; read once

// Adds one call of `seconds` (wall) and `cpu_seconds` (the process's CPU time, every thread)
// to `label`'s totals (thread-safe).
void record(const std::string& label, double seconds, double cpu_seconds);

// The process's CPU time (every thread) in seconds.
double process_cpu_seconds();

// The table (label, calls, total ms, ms per call, % of the "forward" label) as text; empty
// when nothing was recorded. Also printed to stderr at exit when enabled().
std::string report();
void reset();

// One label's totals, for callers that format them themselves (ember bench --serve-stdin).
struct Totals {
  std::string label;
  long long calls = 0;
  double seconds = 0.0;
  double cpu_seconds = 0.0;  // of the whole process while the op ran: its threads' work
};
// The totals recorded so far, in label order; with `reset`, also clears them (atomically, so
// no call recorded in between is lost).
std::vector<Totals> totals(bool reset);

// Times its scope under `label` when profiling is on; a no-op (one branch) otherwise.
class Scope {
 public:
  explicit Scope(const char* label) : label_(label), on_(enabled()) { start(); }
  Scope(std::string label, bool on) : owned_(std::move(label)), label_(nullptr), on_(on) {
    start();
  }
  ~Scope() {
    if (!on_) return;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    record(label_ ? std::string(label_) : owned_, s, process_cpu_seconds() - cpu_start_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void start() {
    if (!on_) return;
    cpu_start_ = process_cpu_seconds();
    start_ = std::chrono::steady_clock::now();
  }

  std::string owned_;
  const char* label_;
  bool on_;
  double cpu_start_ = 0.0;
  std::chrono::steady_clock::time_point start_{};
};

}  // namespace ember::profile
