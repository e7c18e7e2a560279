// The table method of the ternary GEMM (ternary_gemm.h): which layers use
// it, and the preparation of their tables. The kernels are in
// ternary_gemm_table_<isa>.cc.
#include <cstring>

#include "export/core/packing.h"
#include "export/core/ternary_gemm_internal.h"

namespace sttn {
namespace core {

MicroKernels TernaryGemmTableKernels(Isa isa) {
  switch (isa) {
#if STTN_X86_DISPATCH
    case Isa::kAvx2:
      return internal::Avx2TableKernels();
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      return internal::NeonTableKernels();
#endif
    default:
      break;
  }
  return MicroKernels();
}

namespace internal {

namespace {

TableLayout LayoutFor(int trits, int out_c, int taps, int in_c) {
  TableLayout l;
  l.trits = trits;
  l.rows = trits == 4 ? 81 : 9;
  l.slices = (in_c + trits - 1) / trits;
  l.sections = static_cast<int64_t>(taps) * l.slices;
  l.stride = (out_c + kTableLanes - 1) / kTableLanes * kTableLanes;
  l.groups = l.stride / kTableLanes;
  l.table_bytes = static_cast<size_t>(l.sections) * l.rows * l.stride;
  l.fits = out_c > 0 && taps > 0 && in_c > 0 && l.sections <= kTableMaxSlices &&
           l.groups <= kTableMaxGroups && l.table_bytes <= kTableMaxBytes;
  // Words: header, row offsets (8 x 256 for quads, 16 x 16 for pairs),
  // scale, bias, then the tables from the next 64-byte boundary of the
  // buffer's address (up to 15 words of slack; the header says where).
  l.row_offset = kGemmHeaderWords;
  l.scale = l.row_offset + (trits == 4 ? 8 * 256 : 16 * 16);
  l.bias = l.scale + l.stride;
  l.table = l.bias + l.stride;
  l.words = l.table + 15 + (l.table_bytes + 3) / 4;
  return l;
}

}  // namespace

TableLayout MakeTableLayout(int out_c, int taps, int in_c) {
  const TableLayout quads = LayoutFor(4, out_c, taps, in_c);
  return quads.fits ? quads : LayoutFor(2, out_c, taps, in_c);
}

}  // namespace internal

GemmMethod ResolveGemmMethod(Isa isa, int out_c, int taps, int in_c,
                             GemmMethod method) {
  if (method == GemmMethod::kPopcount ||
      TernaryGemmTableKernels(isa).lanes == 0) {
    return GemmMethod::kPopcount;
  }
  const internal::TableLayout l = internal::MakeTableLayout(out_c, taps, in_c);
  if (!l.fits) return GemmMethod::kPopcount;
  // A pair covers half a quad's multiply-accumulates for the same lookup.
  if (method == GemmMethod::kAuto &&
      out_c < kTableMinOutputs * (l.trits == 4 ? 1 : 2)) {
    return GemmMethod::kPopcount;
  }
  return GemmMethod::kTable;
}

GemmMethod PackedGemmMethod(const uint32_t* packed) {
  return packed[0] == static_cast<uint32_t>(GemmMethod::kTable)
             ? GemmMethod::kTable
             : GemmMethod::kPopcount;
}

namespace internal {

void PackTables(const int8_t* w, int out_c, int taps, int in_c,
                const float* scale, const float* bias, uint32_t* packed) {
  const TableLayout l = MakeTableLayout(out_c, taps, in_c);
  std::memset(packed, 0, sizeof(uint32_t) * l.words);
  packed[0] = static_cast<uint32_t>(GemmMethod::kTable);
  // The tables start at a 64-byte boundary (whole cache lines per row when
  // the stride is a multiple of 64, never a row load across two lines for
  // strides of 32 + 64 k); word 1 of the header says where.
  const uintptr_t at = reinterpret_cast<uintptr_t>(packed + l.table);
  const size_t slack = ((64 - at % 64) % 64) / 4;
  packed[1] = static_cast<uint32_t>(l.table + slack);
  // A slice's pattern: c = mask bits | sign bits << trits (4 or 2 bits
  // each); digit i of its row index (base 3) is 0 for a zero trit, 1 for
  // +1, 2 for -1. A sign bit under a zero mask bit is ignored, as the
  // popcount arithmetic ignores it. The offset of slice j of a 32-channel
  // block (8 quads or 16 pairs) adds j sections.
  uint32_t* row_offset = packed + l.row_offset;
  const int64_t section = static_cast<int64_t>(l.rows) * l.stride;
  const int per_block = 32 / l.trits;
  const int patterns = 1 << (2 * l.trits);
  for (int j = 0; j < per_block; ++j) {
    for (int c = 0; c < patterns; ++c) {
      int r = 0;
      for (int i = l.trits - 1; i >= 0; --i) {
        const int digit =
            ((c >> i) & 1) ? (((c >> (l.trits + i)) & 1) ? 2 : 1) : 0;
        r = 3 * r + digit;
      }
      row_offset[j * patterns + c] =
          static_cast<uint32_t>(j * section + r * l.stride);
    }
  }
  float* sc = reinterpret_cast<float*>(packed + l.scale);
  float* bi = reinterpret_cast<float*>(packed + l.bias);
  for (int o = 0; o < out_c; ++o) {
    sc[o] = scale[o];
    bi[o] = bias[o];
  }
  int8_t* table = reinterpret_cast<int8_t*>(packed + packed[1]);
  for (int t = 0; t < taps; ++t) {
    for (int q = 0; q < l.slices; ++q) {
      int8_t* section =
          table + (static_cast<int64_t>(t) * l.slices + q) * l.rows * l.stride;
      for (int r = 0; r < l.rows; ++r) {
        int trit[4] = {0, 0, 0, 0};
        for (int j = 0, rest = r; j < l.trits; ++j, rest /= 3) {
          const int digit = rest % 3;
          trit[j] = digit == 0 ? 0 : (digit == 1 ? 1 : -1);
        }
        int8_t* row = section + static_cast<int64_t>(r) * l.stride;
        for (int o = 0; o < out_c; ++o) {
          const int8_t* wo = w + (static_cast<int64_t>(o) * taps + t) * in_c;
          int sum = 0;
          for (int j = 0; j < l.trits && l.trits * q + j < in_c; ++j) {
            sum += trit[j] * wo[l.trits * q + j];
          }
          row[o] = static_cast<int8_t>(sum);
        }
      }
    }
  }
}

}  // namespace internal
}  // namespace core
}  // namespace sttn
