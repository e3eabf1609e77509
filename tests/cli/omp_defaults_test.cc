// The ember executable defaults libgomp to OMP_WAIT_POLICY=passive (src/cli/omp_defaults.cc)
// and leaves a user's own OpenMP wait settings alone. libgomp prints what it read when
// OMP_DISPLAY_ENV=true.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace ember {
namespace {
namespace fs = std::filesystem;

// The GOMP_SPINCOUNT libgomp settled on (OMP_DISPLAY_ENV=verbose prints it; the last report
// is the one of the process that runs, after ember's re-exec) for `env <env> ember --help`
// (<env>: env's -u options first, then assignments).
std::string spin_count(const std::string& env) {
  const fs::path err =
      fs::temp_directory_path() / ("ember-omp-" + std::to_string(::getpid()) + ".err");
  const std::string cmd = "env " + env +
                          " OMP_DISPLAY_ENV=verbose " EMBER_BINARY_DIR
                          "/src/cli/ember --help >/dev/null 2>" +
                          err.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(err);
  const std::string text(std::istreambuf_iterator<char>(f), {});
  fs::remove(err);
  const std::string key = "GOMP_SPINCOUNT = '";
  const size_t at = text.rfind(key);
  if (at == std::string::npos) return "not reported: " + text;
  return text.substr(at + key.size(), text.find('\'', at + key.size()) - at - key.size());
}

TEST(OmpDefaults, PassiveWaitPolicyUnlessTheUserChoseOne) {
  // passive = no spinning at barriers; libgomp's own default is 300000.
  EXPECT_EQ(spin_count("-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT"), "0");
  EXPECT_EQ(spin_count("-u GOMP_SPINCOUNT OMP_WAIT_POLICY=active"), "30000000000");
  EXPECT_EQ(spin_count("-u OMP_WAIT_POLICY GOMP_SPINCOUNT=1000"), "1000");
}

}  // namespace
}  // namespace ember
