// The float epilogue of 8 lanes on AVX2, shared by the depthwise kernels
// (ternary and float input): y = scale * acc + bias, rounded twice like the
// reference's Epilogue, then ReLU as a compare-and-mask (NaN and -0 become
// +0, as `!(y > 0) ? 0 : y`); `valid` of the 8 lanes stored.
#ifndef STTN_EXPORT_CORE_AVX2_EPILOGUE_H_
#define STTN_EXPORT_CORE_AVX2_EPILOGUE_H_

#include "export/core/cpu_target.h"

#if STTN_X86_DISPATCH
namespace sttn {
namespace core {
namespace avx2_epilogue {

__attribute__((target("avx2"))) STTN_ALWAYS_INLINE void Epilogue8(
    __m256 acc, const float* sp, const float* bp, bool relu, int valid,
    float* dst) {
  __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(sp), acc),
                           _mm256_loadu_ps(bp));
  if (relu) {
    y = _mm256_and_ps(y, _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ));
  }
  if (valid >= 8) {
    _mm256_storeu_ps(dst, y);
  } else if (valid > 0) {
    const __m256i mask = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(dst, mask, y);
  }
}

}  // namespace avx2_epilogue
}  // namespace core
}  // namespace sttn
#endif  // STTN_X86_DISPATCH

#endif  // STTN_EXPORT_CORE_AVX2_EPILOGUE_H_
