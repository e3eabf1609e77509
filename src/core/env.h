// Tuning knobs read from environment variables. A knob is a setting for A/B runs and dedicated
// machines, never required: an unset, empty, malformed or out-of-range value means "use the
// default", so a typo cannot stop a server.
#pragma once

#include <cstdint>
#include <optional>

namespace ember {

// The integer in `name` if it is set, parses whole, and lies in [lo, hi]; else nullopt.
std::optional<int64_t> env_int(const char* name, int64_t lo, int64_t hi);

}  // namespace ember
