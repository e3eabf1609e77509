#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <optional>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace ember {
namespace {

TEST(DType, NamesRoundTrip) {
  for (auto d : {DType::kF32, DType::kF16, DType::kBF16, DType::kI64, DType::kBool}) {
    auto back = dtype_from_name(dtype_name(d));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, d);
  }
  EXPECT_FALSE(dtype_from_name("F8").has_value());
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
}

TEST(DType, HalfToFloatIsExact) {
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0xc000), -2.0f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_TRUE(std::isinf(half_to_float(0x7c00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7e00)));
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_float(0xc0a0), -5.0f);
}

TEST(Shape, NumelAndString) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.str(), "[2, 3, 4]");
  EXPECT_TRUE((s == Shape{2, 3, 4}));
  EXPECT_FALSE((s == Shape{2, 12}));
  EXPECT_THROW((Shape{1, 2, 3, 4, 5}), Error);
}

TEST(Error, CarriesKind) {
  try {
    fail(ErrorKind::kNotFound, "tensor '", "x", "' of ", 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_STREQ(e.what(), "tensor 'x' of 3");
    EXPECT_EQ(error_kind_name(e.kind()), "not_found");
  }
}

TEST(Parallel, CoversRangeOnce) {
  std::vector<int> hits(1000, 0);
  parallel_for(1000, 7, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i]++;
  });
  for (int h : hits) EXPECT_EQ(h, 1);
}

TEST(CpuFeatures, OverrideClampsToDetected) {
  const Isa before = active_isa();
  set_isa(Isa::kScalar);
  EXPECT_EQ(active_isa(), Isa::kScalar);
  set_isa(Isa::kAvx512);
  EXPECT_LE(static_cast<int>(active_isa()), static_cast<int>(detected_isa()));
  set_isa(before);
}

}  // namespace
}  // namespace ember
