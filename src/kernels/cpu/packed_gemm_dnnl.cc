// oneDNN matmul on pre-packed weights (see packed_gemm_dnnl.h). The oneDNN C++ API stays in
// this file; its exceptions become Error(kInternal).
#include "kernels/cpu/packed_gemm_dnnl.h"

#include <dnnl.hpp>

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/cpu/dnnl_calling_thread.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/kernels_int8.h"

namespace ember::kernels {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

using Type = PackedGemmDnnl::Type;

dt src_type(Type t) {
  return t == Type::kF32 ? dt::f32 : t == Type::kBF16 ? dt::bf16 : dt::u8;
}
dt weight_type(Type t) {
  return t == Type::kF32 ? dt::f32 : t == Type::kBF16 ? dt::bf16 : dt::s8;
}
dt dst_type(Type t) {
  return t == Type::kU8S8 ? dt::s32 : dt::f32;
}
size_t weight_size(Type t) {
  return t == Type::kF32 ? sizeof(float) : t == Type::kBF16 ? sizeof(uint16_t) : sizeof(int8_t);
}

// The primitive for x [m, k] (dense) times a [k, n] slice stored as `w` describes (tag::any
// at pack time: whatever layout oneDNN prefers).
dnnl::matmul::primitive_desc matmul_pd(PackedGemmDnnl::Type t, int64_t m, int64_t n, int64_t k,
                                       const dnnl::memory::desc& w) {
  const dnnl::memory::desc src({m, k}, src_type(t), tag::ab);
  const dnnl::memory::desc dst({m, n}, dst_type(t), tag::ab);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, dst), cpu_engine());
}

// Primitives by shape, per thread: a hit costs one hash lookup and no lock. A miss on one
// thread after another thread created the same shape is a hit in oneDNN's own primitive
// cache (microseconds, no new JIT code). Distinct shapes are bounded by kMaxRows per slice
// shape; the map is cleared if it ever grows past kMaxEntries anyway.
struct Key {
  int64_t type, m, n, k;
  bool operator==(const Key&) const = default;
};
struct KeyHash {
  size_t operator()(const Key& key) const {
    size_t h = static_cast<size_t>(key.type);
    for (int64_t v : {key.m, key.n, key.k}) h = h * 1000003u ^ static_cast<size_t>(v);
    return h;
  }
};
constexpr size_t kMaxEntries = 4096;

// Created for the packed layout itself, so that a row count for which oneDNN would have
// preferred another layout still reads these weights correctly.
const dnnl::matmul& cached_matmul(PackedGemmDnnl::Type t, int64_t m, int64_t n, int64_t k,
                                  const dnnl::memory::desc& packed) {
  thread_local std::unordered_map<Key, dnnl::matmul, KeyHash> cache;
  const Key key{static_cast<int64_t>(t), m, n, k};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= kMaxEntries) cache.clear();
  return cache.emplace(key, dnnl::matmul(matmul_pd(t, m, n, k, packed))).first->second;
}

// True when a packed [k, width] f32 desc is width / 64 panels of [k][64] floats, one after the
// other: oneDNN's "BA16a64b" (blocks of 16 k x 64 columns, k blocks adjacent within a panel).
// Then the element (kk, c) is at (c / 64) * k * 64 + kk * 64 + c % 64.
// The panel kernel loads with 64-byte alignment, so the buffer must start on one.
bool is_panel_layout(const dnnl::memory& mem, int64_t k) {
  if (reinterpret_cast<uintptr_t>(mem.get_data_handle()) % 64 != 0) return false;
  const dnnl::memory::desc md = mem.get_desc();
  const dnnl_memory_desc_t& d = md.data;
  if (d.ndims != 2 || d.data_type != dnnl_f32 || d.format_kind != dnnl_blocked) return false;
  const int64_t width = d.dims[1];
  if (k % 16 != 0 || width % 64 != 0 || d.padded_dims[0] != k || d.padded_dims[1] != width ||
      d.offset0 != 0)
    return false;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  return b.inner_nblks == 2 && b.inner_idxs[0] == 0 && b.inner_blks[0] == 16 &&
         b.inner_idxs[1] == 1 && b.inner_blks[1] == 64 && b.strides[0] == 16 * 64 &&
         b.strides[1] == k * 64;
}

// True when a packed [k, width] s8 desc is oneDNN's VNNI layout "BA16a64b4a" without a
// compensation buffer: width / 64 (rounded up) panels of [kpad][64] bytes, kpad = k rounded up to
// 64, with the 4 k of a group adjacent per column (kernels_int8.h). Padding is zero-filled.
bool is_vnni_panel_layout(const dnnl::memory& mem, int64_t k) {
  if (reinterpret_cast<uintptr_t>(mem.get_data_handle()) % 64 != 0) return false;
  const dnnl::memory::desc md = mem.get_desc();
  const dnnl_memory_desc_t& d = md.data;
  if (d.ndims != 2 || d.data_type != dnnl_s8 || d.format_kind != dnnl_blocked ||
      d.extra.flags != 0 || d.offset0 != 0)
    return false;
  const int64_t kpad = (k + 63) / 64 * 64, wpad = (d.dims[1] + 63) / 64 * 64;
  if (d.padded_dims[0] != kpad || d.padded_dims[1] != wpad) return false;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  return b.inner_nblks == 3 && b.inner_idxs[0] == 0 && b.inner_blks[0] == 16 &&
         b.inner_idxs[1] == 1 && b.inner_blks[1] == 64 && b.inner_idxs[2] == 0 &&
         b.inner_blks[2] == 4 && b.strides[0] == 64 * 64 && b.strides[1] == kpad * 64;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

}  // namespace

struct PackedGemmDnnl::Slice {
  dnnl::memory weights;  // packed, owned by oneDNN
};

PackedGemmDnnl::PackedGemmDnnl(Type type, int64_t n, int64_t k, int64_t slices)
    : type_(type), n_(n), k_(k) {
  EMBER_CHECK(n > 0 && k > 0 && slices >= 1, ErrorKind::kInternal,
              "PackedGemmDnnl: bad shape n=", n, " k=", k, " slices=", slices);
  // Widths a multiple of 64 (oneDNN's column block on AVX-512), the last one shorter.
  int64_t part = (n + slices - 1) / slices;
  part = (part + 63) / 64 * 64;
  for (int64_t j = 0; j < n; j += part) {
    begin_.push_back(j);
    width_.push_back(std::min(part, n - j));
  }
}

PackedGemmDnnl::~PackedGemmDnnl() = default;

std::unique_ptr<PackedGemmDnnl> PackedGemmDnnl::pack_f32(const float* w, int64_t n, int64_t k,
                                                         int64_t slices) {
  std::unique_ptr<PackedGemmDnnl> p(new PackedGemmDnnl(Type::kF32, n, k, slices));
  p->pack(w);
  return p;
}

std::unique_ptr<PackedGemmDnnl> PackedGemmDnnl::pack_s8(const int8_t* w, int64_t n, int64_t k,
                                                        int64_t slices) {
  std::unique_ptr<PackedGemmDnnl> p(new PackedGemmDnnl(Type::kU8S8, n, k, slices));
  p->pack(w);
  return p;
}

std::unique_ptr<PackedGemmDnnl> PackedGemmDnnl::pack_bf16(const uint16_t* w, int64_t n, int64_t k,
                                                          int64_t slices) {
  std::unique_ptr<PackedGemmDnnl> p(new PackedGemmDnnl(Type::kBF16, n, k, slices));
  p->pack(w);
  return p;
}

void PackedGemmDnnl::pack(const void* w) {
  EMBER_CHECK(w != nullptr, ErrorKind::kInternal, "PackedGemmDnnl: null weights");
  dnnl_on_calling_thread();
  const size_t elem = weight_size(type_);
  try {
    dnnl::stream& s = thread_stream();
    for (size_t i = 0; i < begin_.size(); ++i) {
      // The layout oneDNN prefers for a full chunk of rows; calls with fewer rows use it too.
      const auto pd = matmul_pd(type_, kMaxRows, width_[i], k_,
                                dnnl::memory::desc({k_, width_[i]}, weight_type(type_), tag::any));
      // Rows [begin, begin + width) of the [n, k] matrix, seen as a [k, width] matrix.
      const dnnl::memory::desc src_md({k_, width_[i]}, weight_type(type_), {1, k_});
      auto* first = static_cast<const uint8_t*>(w) + static_cast<size_t>(begin_[i] * k_) * elem;
      dnnl::memory src(src_md, cpu_engine(), const_cast<uint8_t*>(first));
      auto slice = std::make_unique<Slice>();
      slice->weights = dnnl::memory(pd.weights_desc(), cpu_engine());
      dnnl::reorder(src, slice->weights).execute(s, src, slice->weights);
      s.wait();
      slice_.push_back(std::move(slice));
    }
  } catch (const dnnl::error& e) {
    fail(ErrorKind::kInternal, "oneDNN could not pack a ", n_, "x", k_, " weight: ", e.what());
  }
  if (type_ == Type::kF32 && std::all_of(slice_.begin(), slice_.end(), [&](const auto& sl) {
        return is_panel_layout(sl->weights, k_);
      })) {
    for (const auto& sl : slice_) panels_.push_back(sl->weights.get_data_handle());
    panel_max_rows_ = kPanelMaxRows;
  }
  if (type_ == Type::kU8S8 && std::all_of(slice_.begin(), slice_.end(), [&](const auto& sl) {
        return is_vnni_panel_layout(sl->weights, k_);
      })) {
    for (const auto& sl : slice_) panels_.push_back(sl->weights.get_data_handle());
    panel_max_rows_ = kInt8PanelMaxRows;
  }
}

int64_t PackedGemmDnnl::packed_bytes() const {
  int64_t total = 0;
  for (const auto& s : slice_) total += static_cast<int64_t>(s->weights.get_desc().get_size());
  return total;
}

void PackedGemmDnnl::run_slice(int64_t s, int64_t m, const void* x, void* dst,
                               Kernel kernel) const {
  EMBER_CHECK(s >= 0 && s < slices() && m >= 1 && m <= kMaxRows && x && dst, ErrorKind::kInternal,
              "PackedGemmDnnl::run_slice: bad slice ", s, " or rows ", m);
  const int64_t width = width_[static_cast<size_t>(s)];
  const bool panel_isa =
      type_ == Type::kU8S8 ? int8_vnni_supported() : active_isa() >= Isa::kAvx512;
  const bool panel =
      panel_max_rows_ > 0 && panel_isa &&
      (kernel == Kernel::kPanel || (kernel == Kernel::kAuto && m <= panel_max_rows_));
  if (panel && type_ == Type::kU8S8) {
    gemm_u8s8s32_avx512vnni_6x64_panels(m, width, k_, static_cast<const uint8_t*>(x), k_,
                                        static_cast<const int8_t*>(panels_[static_cast<size_t>(s)]),
                                        static_cast<int32_t*>(dst), width);
    return;
  }
  if (panel && type_ == Type::kF32) {
    sgemm_f32_avx512_6x64_panels(m, width, k_, static_cast<const float*>(x), k_,
                                 static_cast<const float*>(panels_[static_cast<size_t>(s)]),
                                 static_cast<float*>(dst), width);
    return;
  }
  dnnl_on_calling_thread();
  // Before the try: Error must not be caught below.
  const dnnl::memory& packed = slice_[static_cast<size_t>(s)]->weights;
  try {
    const dnnl::matmul& mm = cached_matmul(type_, m, width, k_, packed.get_desc());
    dnnl::memory src({{m, k_}, src_type(type_), tag::ab}, cpu_engine(), const_cast<void*>(x));
    dnnl::memory out({{m, width}, dst_type(type_), tag::ab}, cpu_engine(), dst);
    mm.execute(thread_stream(),
               {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, packed}, {DNNL_ARG_DST, out}});
  } catch (const dnnl::error& e) {
    fail(ErrorKind::kInternal, "oneDNN matmul failed for m=", m, " n=", width, " k=", k_, ": ",
         e.what());
  }
}

}  // namespace ember::kernels
