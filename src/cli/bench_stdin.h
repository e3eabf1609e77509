// `ember bench --serve-stdin`: one loaded model timed on request, for the side-by-side
// harness (bench/compare/), which interleaves Ember with other engines repetition by
// repetition. Process start and model load happen once, before the "ready" line (which names
// the model, its ISA, dtype and quantization), so no timing includes them. Line protocol, one JSON
// line answered per request line:
//
//   time IDS_FILE N          -> {"ms": [N times of Engine::run, last hidden state],
//                                "cpu_ms": [the process's CPU time, all threads, of each run]}
//   hidden IDS_FILE OUT_FILE -> {"tokens": T, "hidden": H}; OUT_FILE: float32 [T, H], packed
//   profile                  -> {"enabled": EMBER_PROFILE is on, "ops": [{"label", "calls",
//                                "ms", "cpu_ms"}]}: the per-op totals of core/profile.h (wall,
//                                and the process's CPU time while the op ran) since the last
//                                `profile` request, then cleared, so that a caller can leave
//                                its warm-up runs out (bench/compare/profile_cells.py)
//   quit (or end of input)
//
// IDS_FILE: one sequence per line, token ids separated by spaces (read once, then cached).
// A bad request is answered {"error": ..., "error_type": ...} and the loop goes on.
#pragma once

#include <iosfwd>
#include <string>

#include "runtime/engine.h"

namespace ember::cli {

// Serves requests from `in` until "quit" or end of input; returns the exit code.
int serve_bench_requests(const runtime::Engine& engine, std::istream& in, std::ostream& out,
                         double load_ms);

}  // namespace ember::cli
