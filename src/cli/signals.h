// SIGINT, SIGTERM and SIGHUP for the commands that write a model directory (quantize, prune).
#pragma once

namespace ember::cli {

// Call before any thread starts. The signals are blocked in this thread and every thread it
// starts, and one thread waits for them: on one, it reports it as a JSON error line on stderr,
// removes the staging directories not yet committed (io::abandon_staging_dirs) and exits with
// 128 + the signal's number, so that an interrupted command leaves nothing half-written.
void leave_nothing_behind_on_signals();

}  // namespace ember::cli
