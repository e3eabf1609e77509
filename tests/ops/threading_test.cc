// oneDNN (an OpenMP build) must run on Ember's pool threads only: a oneDNN call that started
// an OpenMP team of its own would add threads that compete with the pool's (2 pools on 2 cores)
// and bring back OpenMP's wait policy. Every Linear path that reaches oneDNN is run here, the
// single-chunk ones (inline on the caller) included, and the process's thread count must not
// grow. ctest runs each test in its own process, so nothing earlier created a team.
#include <gtest/gtest.h>

#include <dirent.h>

#include <cstdint>
#include <vector>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "backends/cpu/linear_int8_cpu.h"
#include "backends/cpu/cpu_ops.h"

namespace ember {
namespace {

int threads_in_process() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

TEST(Threading, OneDnnStartsNoThreadsOfItsOwn) {
  set_num_threads(2);
  parallel_for(2, 1, [](int64_t, int64_t) {});  // the pool's worker exists from here on
  const int before = threads_in_process();
  ASSERT_GE(before, 2);

  const int64_t k = 64;
  std::vector<float> x(300 * k, 0.5f), w(512 * k, 0.25f), y(300 * 512);
  for (int64_t m : {1, 20, 48, 300})  // own kernel / 8-row oneDNN / columns / rows
    for (int64_t n : {16, 512})       // 16 columns: one chunk, oneDNN on the caller
      cpu::linear(x.data(), m, k, k, w.data(), nullptr, n, y.data(), n);
  EXPECT_FLOAT_EQ(y[0], 0.5f * 0.25f * k);

  std::vector<int8_t> wq(512 * k, 3);
  std::vector<float> scale(512, 0.01f);
  std::vector<int32_t> col_sum(512, 3 * k);
  ops::Int8Weights iw{wq.data(), scale.data(), col_sum.data(), 127};
  for (int64_t m : {1, 300})
    for (int64_t n : {16, 512})
      cpu::linear_int8(x.data(), m, k, k, iw, nullptr, n, y.data(), n, ops::Activation::kNone,
                       nullptr, cpu::Int8Gemm::kDnnl);

  EXPECT_EQ(threads_in_process(), before);
}

// --threads 1 means one thread: every call runs inline on the caller, and oneDNN must not
// turn a large product into a team of its own.
TEST(Threading, OneThreadMeansOneThread) {
  set_num_threads(1);
  const int before = threads_in_process();
  const int64_t m = 512, k = 768, n = 768;
  std::vector<float> x(m * k, 0.5f), w(n * k, 0.25f), y(m * n);
  cpu::linear(x.data(), m, k, k, w.data(), nullptr, n, y.data(), n);
  EXPECT_FLOAT_EQ(y[0], 0.5f * 0.25f * k);
  std::vector<int8_t> wq(n * k, 3);
  std::vector<float> scale(n, 0.01f);
  std::vector<int32_t> col_sum(n, 3 * k);
  ops::Int8Weights iw{wq.data(), scale.data(), col_sum.data(), 127};
  cpu::linear_int8(x.data(), m, k, k, iw, nullptr, n, y.data(), n, ops::Activation::kNone,
                   nullptr, cpu::Int8Gemm::kDnnl);
  EXPECT_EQ(threads_in_process(), before);
}

}  // namespace
}  // namespace ember
