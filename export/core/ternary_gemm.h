// Ternary GEMM: the engine of the optimized SttnConv2D and
// SttnFullyConnected kernels (ternary input x ternary weights).
//
// A conv is a GEMM of M = batch * out_h * out_w output pixels by
// N = out_c output channels over K = kernel_h * kernel_w taps x in_c
// channels, with indirect im2col: the kernel never copies input windows, it
// reads each tap of each output pixel through a pointer table (padding taps
// point at a zero row), in the spirit of XNNPACK's indirect convolution and
// Larq Compute Engine's bgemm.
//
// Register blocking. A micro-kernel computes a tile of `tile` output pixels x
// `lanes` output channels at once, one vector lane per output channel: the
// prepared weights of a group of `lanes` channels hold, for each K chunk of 32
// channels, `lanes` mask words then `lanes` sign words; each pixel's chunk is
// one (mask, sign) word pair of the activation's compute packing, broadcast
// to all lanes. Per chunk and pixel that is m = w_m & x_m,
// neg = m & (w_s ^ x_s), acc_m += popcount(m), acc_n += popcount(neg): the
// dot product is acc_m - 2 acc_n. Every loaded weight vector serves `tile`
// pixels and every broadcast serves `lanes` channels; accumulators stay in
// registers for the whole K loop and the affine epilogue (scale, bias, ReLU)
// writes `lanes` contiguous NHWC floats per pixel. Nothing is reduced
// horizontally, so a 1x1 conv with 16 input channels costs one chunk per
// pixel and group, not a per-output dot-product setup.
//
// | path     | lanes | tile | popcount                                    |
// |----------|-------|------|---------------------------------------------|
// | portable |   8   |  4   | SWAR (x86 baseline) / __builtin_popcount    |
// | popcnt   |   8   |  4   | scalar POPCNT                               |
// | avx2     |   8   |  4   | vpshufb nibble table, int8 partial sums     |
// | avx512   |  16   |  8   | vpopcntd; neg in one vpternlogd             |
// | neon     |   8   |  4   | cnt, uint8 partial sums, uaddlp widening    |
//
// One micro-kernel call runs a tile of pixels over a run of weight groups
// (all of a layer's output channels, or the item's share of them), so the
// call, the tables and the pixel rows are paid once per tile rather than
// once per `lanes` channels: with K short (MobileNet's 1x1 convs have 1 to
// 30 chunks) those fixed costs were most of the work. The AVX2 kernel also
// takes up to 16 pixels per call (max_pixels), loading each group's
// thresholds or affine once for all of them, widens its int8 sums once when
// K has at most 15 chunks, and turns 4 pixels' packed-output compares into
// bytes with int16 compares, two packs and a permute.
//
// A 1x1 conv of stride 1 reads its pixel rows in place (pixel p is row p,
// as a fully connected layer): no tap offsets.
//
// Table method (AVX2 and NEON, layers whose tables are small): a second way
// to run the same GEMM, chosen per layer when its weights are prepared
// (GemmMethod). Every 4 input channels of a tap ("a quad") take one of
// 3^4 = 81 trit patterns, and the weights are constant, so the prepared
// weights hold, per quad, a table of 81 rows: row r holds the quad's partial
// dot products with every output channel (int8, in [-4, 4]) for pattern r.
// A pixel then costs one row lookup per quad and one byte-add per 32 output
// channels (AVX2; two on NEON): 128 multiply-accumulates per vector add,
// where the popcount kernels need about 17 vector operations per 256 (8
// channels x 32 trits, of which a 1x1 conv with 16 input channels uses half).
// The sums stay int8 for up to 31 quads and are widened to int16 after each
// 31. The tables cost 81 / 4 = 20.25 bytes per weight, so only layers whose
// tables fit kTableMaxBytes use them; a layer whose quad tables do not fit
// may use pairs (9 rows of 2 trits: 4.5 bytes per weight, 64 multiply-
// accumulates per add, int8 sums for 63 pairs). On MobileNetV2 that is the
// expansion 1x1 convs up to 96 input channels: most of the popcount kernels'
// instructions went there.
//
// Threads: tiles (and, for layers with few pixels, groups of channels) are
// work items of core::ParallelFor; items are sized so each thread gets about
// three, and a packed output splits its channels in whole 32-channel blocks.
#ifndef STTN_EXPORT_CORE_TERNARY_GEMM_H_
#define STTN_EXPORT_CORE_TERNARY_GEMM_H_

#include <cstddef>
#include <cstdint>

#include "export/core/isa.h"
#include "export/core/kernels.h"

namespace sttn {
namespace core {

// Per-thread scratch slots a prepared conv holds; more threads are clipped.
constexpr int kMaxKernelThreads = 16;

// Output channels per weight group and pixels per tile of `isa`.
int TernaryGemmLanes(Isa isa);
int TernaryGemmTile(Isa isa);

// How a layer's GEMM runs: the popcount micro-kernels, or lookups in
// per-quad tables of partial sums (see above). kAuto picks kTable where the
// ISA has table kernels, the layer has at least kTableMinOutputs outputs and
// its tables fit kTableMaxBytes, else kPopcount.
enum class GemmMethod { kAuto = 0, kPopcount = 1, kTable = 2 };

// A slice costs the table kernels a pattern lookup whatever the width, and
// the popcount kernels an amount of work proportional to the outputs: per
// layer of MobileNetV2 on AVX2 (benchmarks/gemm_layers, same process,
// interleaved medians), quad tables are 2.1-2.6x faster at 96-192 outputs,
// about even at 64 and 0.65-0.77x as fast at 16-32; pair tables 1.25-1.42x
// faster at 384-576 outputs and 0.74-0.84x as fast at 64-96. kAuto takes
// quad tables from 96 outputs, pair tables from 192.
constexpr int kTableMinOutputs = 96;

// Largest tables (bytes) a layer may use: 256 KiB, about the L2 share of one
// core on the phones and x86 machines we target.
constexpr size_t kTableMaxBytes = size_t{256} * 1024;

// The method kAuto resolves to for this layer; `method` other than kAuto is
// returned when `isa` can run it (kTable needs table kernels and a layer
// within the table limits), else kPopcount.
GemmMethod ResolveGemmMethod(Isa isa, int out_c, int taps, int in_c,
                             GemmMethod method = GemmMethod::kAuto);

// Words of the prepared weights of a layer with `out_c` outputs, `taps`
// kernel taps (kh * kw; 1 for fully connected) and `in_c` input channels:
// a header (the method), then for kPopcount the packed trits of every group
// followed by the scale and bias (floats) padded to whole groups, for kTable
// the quad tables, the scale and bias and the pattern index.
size_t TernaryGemmPackedWords(Isa isa, int out_c, int taps, int in_c,
                              GemmMethod method = GemmMethod::kAuto);

// Prepares weights `w` (int8 trits, [out_c][taps][in_c]: OHWI for a conv,
// [out_c][in_c] for a fully connected layer) with their scale and bias, for
// `method` resolved as ResolveGemmMethod does (pass the same method as to
// TernaryGemmPackedWords). The GEMM reads the method from the header.
void PackTernaryGemm(Isa isa, const int8_t* w, int out_c, int taps, int in_c,
                     const float* scale, const float* bias, uint32_t* packed,
                     GemmMethod method = GemmMethod::kAuto);

// The method prepared weights were packed for.
GemmMethod PackedGemmMethod(const uint32_t* packed);

// A bit-packed (ternarized) output instead of floats: the layer's float
// result y (after its activation) becomes t = sgn * ([y > hi] - [y < lo])
// per output channel, written in the compute packing. Each tile's floats stay
// in per-thread scratch (cache-resident) and are ternarized right away.
//
// Fast path: y(acc) is monotone in the integer accumulator (rounding is
// monotone), so each of [y > hi] and [y < lo] holds on an interval of acc
// ending at +-K (K = taps * in_c). PrepareTernaryGemmPackedOutput finds the
// interval ends per channel by binary search over the exact float epilogue,
// and the micro-kernels then compare the int32 accumulators with them
// (acc >= upper, acc <= lower) and write the bits straight from registers:
// bit-identical to computing y and comparing it, with no float work.
struct PackedOutput {
  const float* thresholds = nullptr;  // float [3][out_c]: lo, hi, sgn
  int32_t* out = nullptr;             // [pixels][PackedWidth(out_c)]
  // From PrepareTernaryGemmPackedOutput, or nullptr (float tiles instead).
  const int32_t* int_thresholds = nullptr;
};

// Per channel o < out_c, for accumulators acc in [-k_max, k_max]: t(acc) =
// sgn * ([y > hi] - [y < lo]) with y = Epilogue(acc, scale, bias, act) is
// nonzero iff (acc >= upper) != (acc <= lower), negative iff also
// (acc <= lower) != (flip != 0); flip is 0 or -1. Returns false (and leaves
// the outputs unspecified) when a scale or bias is not finite, or when
// k_max >= INT32_MAX (the int32 sentinels would be reachable).
bool IntegerOutputThresholds(int out_c, int64_t k_max, const float* scale,
                             const float* bias, Activation act,
                             const float* thresholds, int32_t* upper,
                             int32_t* lower, int32_t* flip);

// Words of the integer thresholds of a packed output (upper, lower, flip per
// output channel, each padded to whole 32-channel blocks: the layout of
// every method and ISA).
size_t TernaryGemmPackedOutputWords(Isa isa, int out_c);

// Fills them for accumulators in [-k_max, k_max]; returns false (nothing to
// use) when a scale or bias is not finite, where monotonicity is not certain,
// or when k_max >= INT32_MAX.
bool PrepareTernaryGemmPackedOutput(Isa isa, int out_c, int64_t k_max,
                                    const float* scale, const float* bias,
                                    Activation act, const float* thresholds,
                                    int32_t* int_thresholds);

// Conv2D. The scratch holds the zero row, the tap offsets of every output
// pixel and the per-thread pointer tables (and, for a packed output, the
// per-thread float tiles); prepare it once per shape.
size_t Conv2DTernaryGemmScratchBytes(Isa isa, const ConvShape& s,
                                     bool packed_output = false);
void PrepareConv2DTernaryGemmScratch(Isa isa, const ConvShape& s, void* scratch,
                                     bool packed_output = false);
// Writes floats to `out`, or, when `packed` is given, packed trits to
// packed->out (`out` unused).
void Conv2DTernaryGemm(Isa isa, const ConvShape& s, const int32_t* x_packed,
                       const uint32_t* packed, Activation act, int threads,
                       void* scratch, float* out,
                       const PackedOutput* packed_out = nullptr);

// Fully connected: rows of x are the pixels (one tap).
size_t FullyConnectedTernaryGemmScratchBytes(Isa isa,
                                             const FullyConnectedShape& s,
                                             bool packed_output = false);
void PrepareFullyConnectedTernaryGemmScratch(Isa isa,
                                             const FullyConnectedShape& s,
                                             void* scratch,
                                             bool packed_output = false);
void FullyConnectedTernaryGemm(Isa isa, const FullyConnectedShape& s,
                               const int32_t* x_packed, const uint32_t* packed,
                               Activation act, int threads, void* scratch,
                               float* out,
                               const PackedOutput* packed_out = nullptr);

// ---------------------------------------------------------------------------
// Micro-kernel interface (one implementation per ISA, in
// ternary_gemm_<isa>.cc). Exposed for the tests and the benchmarks.
struct MicroKernelArgs {
  // Pointer table: x[p * taps + t] is the packed row (2 * blocks words) of
  // tap t of pixel p, for p < tile (rows of absent pixels: the zero row).
  const uint32_t* const* x = nullptr;
  int taps = 0;
  int blocks = 0;
  // A run of `groups` weight groups of `lanes` output channels each, the
  // first being group `first_group` of the layer. Group g of the run: its
  // trits at w + g * taps * blocks * 2 * lanes, its scales, biases and
  // integer thresholds at (scale, bias, upper, lower, flip) + g * lanes, its
  // floats at out + g * lanes.
  int groups = 1;
  int first_group = 0;
  const uint32_t* w = nullptr;   // group 0's [taps * blocks][2][lanes] words
  const float* scale = nullptr;  // group 0's `lanes` scales (padded)
  const float* bias = nullptr;   // group 0's `lanes` biases (padded)
  Activation act = Activation::kNone;
  float* out = nullptr;  // pixel p, lane l at out[p * out_stride + l]
  int64_t out_stride = 0;
  int pixels = 0;    // pixels to store, <= tile (1 for `single`)
  int channels = 0;  // channels of the run to store (from group 0's lane 0)
  // Packed output instead of floats (`out` unused): pixel p's packed row
  // starts at packed + p * packed_stride; channel c = (first_group + g) *
  // lanes + l is bit c % 32 of the mask word 2 (c / 32) and of the sign word
  // 2 (c / 32) + 1 (each group writes whole bytes of them). Per lane:
  // nonzero iff (acc >= upper) != (acc <= lower); negative iff also
  // (acc <= lower) != (flip != 0).
  uint8_t* packed = nullptr;
  int64_t packed_stride = 0;
  const int32_t* upper = nullptr;
  const int32_t* lower = nullptr;
  const int32_t* flip = nullptr;  // 0 or -1 per lane
  // Table method (lanes 32: a group is one 32-channel block): `table` is
  // group 0's column of the first slice's row 0; slice q's row r starts
  // (q * 3^trits + r) * table_stride bytes further. Slices of `trits` (4 or
  // 2) channels run tap by tap, `slices` per tap (32 / trits per 32-channel
  // block); row_offset[j * 4^trits + c] is the byte offset, from the
  // section of the first slice of a block, of the row of its slice j for
  // pattern c = mask bits | sign bits << trits.
  const int8_t* table = nullptr;
  const uint32_t* row_offset = nullptr;
  int slices = 0;
  int trits = 0;
  int table_stride = 0;
};
using MicroKernel = void (*)(const MicroKernelArgs& args);

struct MicroKernels {
  int lanes = 0;
  int tile = 0;
  MicroKernel full = nullptr;    // `tile` pixels
  MicroKernel single = nullptr;  // one pixel
  // Pixels per call when `full` takes any count from 1 to max_pixels
  // (tiling them itself); 0: exactly `tile` (or one, for `single`).
  int max_pixels = 0;
};

// The micro-kernels of `isa`; lanes == 0 when the build lacks the path.
MicroKernels TernaryGemmMicroKernels(Isa isa);

// The table kernels of `isa` (lanes 32); lanes == 0 where it has none.
MicroKernels TernaryGemmTableKernels(Isa isa);

}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_TERNARY_GEMM_H_
