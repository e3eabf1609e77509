#include "core/profile.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace ember::profile {
namespace {

struct Entry {
  long long calls = 0;
  double seconds = 0.0;
  double cpu_seconds = 0.0;
};

struct Registry {
  std::mutex mu;
  std::map<std::string, Entry> entries;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: ops may record during exit
  return *r;
}

void print_at_exit() {
  const std::string text = report();
  if (!text.empty()) std::fputs(text.c_str(), stderr);
}

bool read_env() {
  const char* v = std::getenv("EMBER_PROFILE");
  const bool on = v && *v && std::string(v) != "0";
  if (on) std::atexit(print_at_exit);
  return on;
}

}  // namespace

bool enabled() {
  static const bool on = read_env();
  return on;
}

void record(const std::string& label, double seconds, double cpu_seconds) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  Entry& e = r.entries[label];
  ++e.calls;
  e.seconds += seconds;
  e.cpu_seconds += cpu_seconds;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::string report() {
  Registry& r = registry();
  std::vector<std::pair<std::string, Entry>> rows;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    rows.assign(r.entries.begin(), r.entries.end());
  }
  if (rows.empty()) return {};
  double forward = 0.0;
  for (const auto& [label, e] : rows)
    if (label == "forward") forward = e.seconds;
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  std::string out = "EMBER_PROFILE: time per op label (wall, calling thread)\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-36s %9s %11s %11s %8s\n", "label", "calls", "total ms",
                "us/call", "% fwd");
  out += line;
  for (const auto& [label, e] : rows) {
    std::snprintf(line, sizeof line, "%-36s %9lld %11.3f %11.2f %8.1f\n", label.c_str(), e.calls,
                  e.seconds * 1e3, e.seconds * 1e6 / static_cast<double>(e.calls),
                  forward > 0 ? 100.0 * e.seconds / forward : 0.0);
    out += line;
  }
  return out;
}

std::vector<Totals> totals(bool reset) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<Totals> out;
  out.reserve(r.entries.size());
  for (const auto& [label, e] : r.entries)
    out.push_back({label, e.calls, e.seconds, e.cpu_seconds});
  if (reset) r.entries.clear();
  return out;
}

void reset() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.entries.clear();
}

}  // namespace ember::profile
