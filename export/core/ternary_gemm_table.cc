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

TableLayout MakeTableLayout(int out_c, int taps, int in_c) {
  TableLayout l;
  l.quads = (in_c + 3) / 4;
  l.sections = static_cast<int64_t>(taps) * l.quads;
  l.stride = (out_c + kTableLanes - 1) / kTableLanes * kTableLanes;
  l.groups = l.stride / kTableLanes;
  l.table_bytes = static_cast<size_t>(l.sections) * kTableRows * l.stride;
  l.fits = out_c > 0 && taps > 0 && in_c > 0 && l.sections <= kTableMaxQuads &&
           l.groups <= kTableMaxGroups && l.table_bytes <= kTableMaxBytes;
  // Words: header, row offsets, scale, bias, then the tables from the next
  // 64-byte boundary of the buffer's address (up to 15 words of slack; the
  // header records where).
  l.row_offset = kGemmHeaderWords;
  l.scale = l.row_offset + 8 * 256;
  l.bias = l.scale + l.stride;
  l.table = l.bias + l.stride;
  l.words = l.table + 15 + (l.table_bytes + 3) / 4;
  return l;
}

}  // namespace internal

size_t TernaryGemmTableBytes(int out_c, int taps, int in_c) {
  const internal::TableLayout l = internal::MakeTableLayout(out_c, taps, in_c);
  return l.fits ? l.table_bytes : 0;
}

GemmMethod ResolveGemmMethod(Isa isa, int out_c, int taps, int in_c,
                             GemmMethod method) {
  if (method == GemmMethod::kPopcount) return method;
  const bool table_ok = TernaryGemmTableKernels(isa).lanes != 0 &&
                        internal::MakeTableLayout(out_c, taps, in_c).fits;
  if (method == GemmMethod::kAuto && out_c < kTableMinOutputs) {
    return GemmMethod::kPopcount;
  }
  return table_ok ? GemmMethod::kTable : GemmMethod::kPopcount;
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
  // Pattern c = mask nibble | sign nibble << 4: digit j of its row index
  // (base 3) is 0 for a zero trit, 1 for +1, 2 for -1. A sign bit under a
  // zero mask bit is ignored, as the popcount arithmetic ignores it. The
  // offset of quad j of a 32-channel block (8 quads) adds j sections.
  uint32_t* row_offset = packed + l.row_offset;
  const int64_t section = static_cast<int64_t>(kTableRows) * l.stride;
  for (int j = 0; j < 8; ++j) {
    for (int c = 0; c < 256; ++c) {
      int r = 0;
      for (int i = 3; i >= 0; --i) {
        const int digit = ((c >> i) & 1) ? (((c >> (4 + i)) & 1) ? 2 : 1) : 0;
        r = 3 * r + digit;
      }
      row_offset[j * 256 + c] =
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
    for (int q = 0; q < l.quads; ++q) {
      int8_t* section = table + (static_cast<int64_t>(t) * l.quads + q) *
                                    kTableRows * l.stride;
      for (int r = 0; r < kTableRows; ++r) {
        int trit[4];
        for (int j = 0, rest = r; j < 4; ++j, rest /= 3) {
          const int digit = rest % 3;
          trit[j] = digit == 0 ? 0 : (digit == 1 ? 1 : -1);
        }
        int8_t* row = section + static_cast<int64_t>(r) * l.stride;
        for (int o = 0; o < out_c; ++o) {
          const int8_t* wo = w + (static_cast<int64_t>(o) * taps + t) * in_c;
          int sum = 0;
          for (int j = 0; j < 4 && 4 * q + j < in_c; ++j) {
            sum += trit[j] * wo[4 * q + j];
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
