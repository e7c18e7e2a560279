// Ternary-input depthwise, portable path: int32 accumulators over the
// contiguous int8 lanes of the decoded rows (the compiler vectorizes the
// lane loops), float or packed outputs (depthwise_internal.h).
#include <cstdint>

#include "export/core/depthwise_internal.h"

namespace sttn {
namespace core {
namespace depthwise {
namespace {

void Item(void* ctx, int64_t item, int worker) {
  const Job& j = *static_cast<const Job*>(ctx);
  const ConvShape& s = *j.s;
  const int cp = j.pl.cp;
  const int out_c = s.out_c;
  const int8_t* w = j.Constant<int8_t>(j.pl.weights);
  const float* sp = j.Constant<float>(j.pl.scale);
  const float* bp = j.Constant<float>(j.pl.bias);
  const int32_t* up = j.Constant<int32_t>(j.pl.upper);
  const int32_t* lw = j.Constant<int32_t>(j.pl.lower);
  const int32_t* fl = j.Constant<int32_t>(j.pl.flip);
  const int width_out = PackedWidth(out_c);
  auto decode = [&](const uint32_t* x_row, int8_t* dst) {
    DecodeRow(s, cp, j.tl.wp, x_row, dst, DecodeBlockScalar);
  };
  auto row_fn = [&](const int8_t** r, uint8_t* slot, int n, int oy) {
    int32_t* __restrict acc = reinterpret_cast<int32_t*>(slot + j.tl.acc);
    const int64_t pixel0 = (static_cast<int64_t>(n) * s.out_h + oy) * s.out_w;
    for (int ox = 0; ox < s.out_w; ++ox) {
      for (int o = 0; o < out_c; ++o) acc[o] = 0;
      for (int ky = 0; ky < s.kernel_h; ++ky) {
        for (int kx = 0; kx < s.kernel_w; ++kx) {
          const int8_t* __restrict xr =
              r[ky] + (static_cast<int64_t>(ox) * s.stride_w + kx) * cp;
          const int8_t* __restrict wt =
              w + static_cast<int64_t>(ky * s.kernel_w + kx) * cp;
          for (int o = 0; o < out_c; ++o) acc[o] += xr[o] * wt[o];
        }
      }
      if (j.packed != nullptr) {
        uint32_t* dst =
            reinterpret_cast<uint32_t*>(j.packed + (pixel0 + ox) * width_out);
        for (int b = 0; b < width_out / 2; ++b) {
          uint32_t mask = 0, sign = 0;
          for (int i = 0; i < 32 && 32 * b + i < out_c; ++i) {
            const int o = 32 * b + i;
            const bool ge = acc[o] >= up[o];
            const bool le = acc[o] <= lw[o];
            const bool nz = ge != le;
            mask |= static_cast<uint32_t>(nz) << i;
            sign |= static_cast<uint32_t>(nz && (le != (fl[o] != 0))) << i;
          }
          dst[2 * b] = mask;
          dst[2 * b + 1] = sign;
        }
      } else {
        float* dst = j.out + (pixel0 + ox) * out_c;
        for (int o = 0; o < out_c; ++o) {
          dst[o] = Epilogue(static_cast<float>(acc[o]), sp[o], bp[o], j.act);
        }
      }
    }
  };
  RunBand(j, item, worker, decode, row_fn);
}

}  // namespace

ParallelFn PortableItem() { return Item; }

}  // namespace depthwise
}  // namespace core
}  // namespace sttn
