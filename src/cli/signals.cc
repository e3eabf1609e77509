#include "cli/signals.h"

#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>
#include <thread>

#include "io/model_dir_writer.h"

namespace ember::cli {

void leave_nothing_behind_on_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;  // the default actions stay
  std::thread([set] {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    const std::string line = std::string(R"({"error": "interrupted by SIG)") + sigabbrev_np(sig) +
                             R"(; an output not yet complete is not kept", )" +
                             R"("error_type": "unavailable"})" + "\n";
    io::abandon_staging_dirs();
    const ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
    ::_exit(128 + sig);
  }).detach();
}

}  // namespace ember::cli
