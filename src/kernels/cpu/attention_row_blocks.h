// What every ISA's register-tiled attention kernel shares, ISA-neutral: EMBER_UNROLL, and
// by_row_blocks, which hands a tile function each block of query rows with its row count as a
// compile-time constant (the accumulator arrays are sized by it). Internal linkage: the header
// is included by files built for different ISAs.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

// Fully unrolled register tiles: without it GCC keeps the accumulator arrays on the stack
// and stores every accumulator after each FMA (store-bound, ~2x slower).
#ifndef EMBER_UNROLL
#if defined(__clang__)
#define EMBER_UNROLL _Pragma("unroll")
#else
#define EMBER_UNROLL _Pragma("GCC unroll 16")
#endif
#endif

namespace ember::kernels {
namespace {

// fn(i, R) for the one R of 1 .. kRows - 1 that rest equals; nothing when rest is 0.
template <typename Fn, int... R>
inline void last_row_block(int64_t rest, int64_t i, Fn& fn, std::integer_sequence<int, R...>) {
  (void)((rest == R + 1 && (fn(i, std::integral_constant<int, R + 1>{}), true)) || ...);
}

// Runs fn(i, R) over the blocks of kRows rows (R = std::integral_constant<int, kRows>) and then
// the remaining rows, if any, as one block of fewer.
template <int kRows, typename Fn>
inline void by_row_blocks(int64_t rows, Fn&& fn) {
  int64_t i = 0;
  for (; i + kRows <= rows; i += kRows) fn(i, std::integral_constant<int, kRows>{});
  last_row_block(rows - i, i, fn, std::make_integer_sequence<int, kRows - 1>{});
}

}  // namespace
}  // namespace ember::kernels
