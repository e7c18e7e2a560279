// Ternary GEMM driver: weight packing, pointer tables, tiling, threads and
// the choice of micro-kernel. The arithmetic is in ternary_gemm_<isa>.cc.
#include "export/core/ternary_gemm.h"

#include <climits>
#include <cmath>
#include <cstring>

#include "export/core/packing.h"
#include "export/core/ternary_gemm_internal.h"
#include "export/core/threadpool.h"

namespace sttn {
namespace core {

MicroKernels TernaryGemmMicroKernels(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return internal::PortableMicroKernels();
    case Isa::kPopcnt:
      return internal::PopcntMicroKernels();
#if STTN_X86_DISPATCH
    case Isa::kAvx2:
      return internal::Avx2MicroKernels();
    case Isa::kAvx512:
      return internal::Avx512MicroKernels();
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      return internal::NeonMicroKernels();
#endif
    default:
      break;
  }
  // A path this build lacks: lanes == 0.
  return MicroKernels();
}

int TernaryGemmLanes(Isa isa) { return TernaryGemmMicroKernels(isa).lanes; }
int TernaryGemmTile(Isa isa) { return TernaryGemmMicroKernels(isa).tile; }

namespace {

int Groups(int out_c, int lanes) { return (out_c + lanes - 1) / lanes; }

// Words of one group's trits: [taps * blocks][2][lanes].
int64_t GroupWords(int taps, int in_c, int lanes) {
  return static_cast<int64_t>(taps) * NumBlocks(in_c) * 2 * lanes;
}

}  // namespace

size_t TernaryGemmPackedWords(Isa isa, int out_c, int taps, int in_c,
                              GemmMethod method) {
  if (ResolveGemmMethod(isa, out_c, taps, in_c, method) == GemmMethod::kTable) {
    return internal::MakeTableLayout(out_c, taps, in_c).words;
  }
  const int lanes = TernaryGemmLanes(isa);
  const int64_t groups = Groups(out_c, lanes);
  return static_cast<size_t>(internal::kGemmHeaderWords +
                             groups * GroupWords(taps, in_c, lanes) +
                             2 * groups * lanes);
}

void PackTernaryGemm(Isa isa, const int8_t* w, int out_c, int taps, int in_c,
                     const float* scale, const float* bias, uint32_t* packed,
                     GemmMethod method) {
  if (ResolveGemmMethod(isa, out_c, taps, in_c, method) == GemmMethod::kTable) {
    internal::PackTables(w, out_c, taps, in_c, scale, bias, packed);
    return;
  }
  const int lanes = TernaryGemmLanes(isa);
  const int groups = Groups(out_c, lanes);
  const int blocks = NumBlocks(in_c);
  const int64_t group_words = GroupWords(taps, in_c, lanes);
  std::memset(packed, 0,
              sizeof(uint32_t) * TernaryGemmPackedWords(isa, out_c, taps, in_c,
                                                        GemmMethod::kPopcount));
  packed[0] = static_cast<uint32_t>(GemmMethod::kPopcount);
  packed += internal::kGemmHeaderWords;
  for (int o = 0; o < out_c; ++o) {
    const int g = o / lanes;
    const int lane = o % lanes;
    uint32_t* dst = packed + g * group_words;
    for (int t = 0; t < taps; ++t) {
      const int8_t* src = w + (static_cast<int64_t>(o) * taps + t) * in_c;
      for (int c = 0; c < in_c; ++c) {
        if (src[c] == 0) continue;
        const int b = c >> 5;
        const uint32_t bit = 1u << (c & 31);
        uint32_t* chunk =
            dst + (static_cast<int64_t>(t) * blocks + b) * 2 * lanes;
        chunk[lane] |= bit;
        if (src[c] < 0) chunk[lanes + lane] |= bit;
      }
    }
  }
  float* affine = reinterpret_cast<float*>(packed + groups * group_words);
  for (int o = 0; o < out_c; ++o) {
    affine[o] = scale[o];
    affine[groups * lanes + o] = bias[o];
  }
}

namespace {

// Output channels padded to whole 32-channel blocks: the integer thresholds'
// lanes for every method (a block is 4 groups of AVX2's popcount kernels, 2
// of AVX-512's, 1 of the table kernels).
int ThresholdLanes(int out_c) { return (out_c + 31) / 32 * 32; }

}  // namespace

size_t TernaryGemmPackedOutputWords(Isa isa, int out_c) {
  (void)isa;
  return static_cast<size_t>(3) * ThresholdLanes(out_c);
}

namespace {

// The micro-kernels' epilogue, exactly (no fused multiply-add).
float EpilogueOf(int64_t acc, float scale, float bias, Activation act) {
  return Epilogue(static_cast<float>(acc), scale, bias, act);
}

// Smallest a in [lo, hi] with pred(a) true for a predicate that is false
// then true over the range; hi + 1 if never true.
template <typename Pred>
int64_t FirstTrue(int64_t lo, int64_t hi, Pred pred) {
  int64_t a = lo, b = hi + 1;
  while (a < b) {
    const int64_t mid = a + (b - a) / 2;
    if (pred(mid)) {
      b = mid;
    } else {
      a = mid + 1;
    }
  }
  return a;
}

}  // namespace

bool IntegerOutputThresholds(int out_c, int64_t k_max, const float* scale,
                             const float* bias, Activation act,
                             const float* thresholds, int32_t* upper,
                             int32_t* lower, int32_t* flip) {
  constexpr int32_t kNever = INT32_MAX;  // acc >= kNever never holds
  constexpr int32_t kNone = INT32_MIN;   // acc <= kNone never holds
  // The sentinels must lie outside [-k_max, k_max]: at k_max = INT32_MAX an
  // accumulator could equal kNever (found by the packed-output fuzzer's
  // review); such a layer uses the float tiles instead.
  if (k_max >= kNever) return false;
  const float* lo_th = thresholds;
  const float* hi_th = thresholds + out_c;
  const float* sgn_th = thresholds + 2 * static_cast<int64_t>(out_c);
  for (int o = 0; o < out_c; ++o) {
    const float sc = scale[o], bi = bias[o];
    if (!std::isfinite(sc) || !std::isfinite(bi)) return false;
    const float hi = hi_th[o], lo = lo_th[o];
    const bool negative_sgn = sgn_th[o] < 0.0f;
    auto gt = [&](int64_t a) { return EpilogueOf(a, sc, bi, act) > hi; };
    auto lt = [&](int64_t a) { return EpilogueOf(a, sc, bi, act) < lo; };
    upper[o] = kNever;
    lower[o] = kNone;
    flip[o] = 0;
    if (sc == 0.0f) {
      // Constant output: t = sgn * ([b > hi] - [b < lo]) for every acc.
      const int t = (negative_sgn ? -1 : 1) *
                    (static_cast<int>(gt(0)) - static_cast<int>(lt(0)));
      if (t != 0) {
        upper[o] = INT32_MIN;  // acc >= INT32_MIN always
        flip[o] = t < 0 ? -1 : 0;
      }
      continue;
    }
    // Upper set {acc >= U} and lower set {acc <= L} over [-k_max, k_max].
    int64_t u, l;
    bool upper_is_gt;
    if (sc > 0.0f) {  // y non-decreasing: gt upper, lt lower
      u = FirstTrue(-k_max, k_max, gt);
      l = FirstTrue(-k_max, k_max, [&](int64_t a) { return !lt(a); }) - 1;
      upper_is_gt = true;
    } else {  // y non-increasing: lt upper, gt lower
      u = FirstTrue(-k_max, k_max, lt);
      l = FirstTrue(-k_max, k_max, [&](int64_t a) { return !gt(a); }) - 1;
      upper_is_gt = false;
    }
    upper[o] = u > k_max ? kNever : static_cast<int32_t>(u);
    lower[o] = l < -k_max ? kNone : static_cast<int32_t>(l);
    // t = sgn * (gt - lt): the upper set's sign is +sgn when it is the gt
    // set; negative iff mask & ((acc <= L) ^ flip), flip = upper set negative.
    const bool upper_negative = upper_is_gt ? negative_sgn : !negative_sgn;
    flip[o] = upper_negative ? -1 : 0;
  }
  return true;
}

bool PrepareTernaryGemmPackedOutput(Isa isa, int out_c, int64_t k_max,
                                    const float* scale, const float* bias,
                                    Activation act, const float* thresholds,
                                    int32_t* int_thresholds) {
  (void)isa;
  const int padded = ThresholdLanes(out_c);
  int32_t* upper = int_thresholds;
  int32_t* lower = int_thresholds + padded;
  int32_t* flip = int_thresholds + 2 * padded;
  for (int o = out_c; o < padded; ++o) {  // padding lanes: always 0
    upper[o] = INT32_MAX;
    lower[o] = INT32_MIN;
    flip[o] = 0;
  }
  return IntegerOutputThresholds(out_c, k_max, scale, bias, act, thresholds,
                                 upper, lower, flip);
}

namespace {

// Scratch of a prepared layer: the zero row, then (conv only) the tap
// offsets [out_h * out_w][taps] of every output pixel, -1 for a padding tap,
// then kMaxKernelThreads pointer tables of tile * taps pointers.
struct ScratchLayout {
  size_t zero_row = 0;
  size_t offsets = 0;
  size_t tables = 0;
  size_t table_bytes = 0;
  size_t tiles = 0;  // packed output: per-thread float tiles
  size_t tile_bytes = 0;
  size_t total = 0;
};

// Pixels per work item: the micro-kernels' tile, or as many as `full` takes.
int ItemPixels(const MicroKernels& mk) {
  return mk.max_pixels > 0 ? mk.max_pixels : mk.tile;
}

// The most pixels a work item of `isa` takes, for either method.
int MaxItemPixels(Isa isa) {
  const int popcount = ItemPixels(TernaryGemmMicroKernels(isa));
  const MicroKernels table = TernaryGemmTableKernels(isa);
  const int t = table.lanes != 0 ? ItemPixels(table) : 0;
  return popcount > t ? popcount : t;
}

size_t Align64(size_t v) { return (v + 63) & ~static_cast<size_t>(63); }

ScratchLayout MakeLayout(Isa isa, int width, int64_t offset_count, int taps,
                         int out_c, bool packed_output) {
  ScratchLayout l;
  size_t at = 0;
  l.zero_row = 0;
  at = Align64(sizeof(uint32_t) * width);
  l.offsets = at;
  at = Align64(at + sizeof(int32_t) * static_cast<size_t>(offset_count));
  l.tables = at;
  const int item_pixels = MaxItemPixels(isa);
  l.table_bytes = Align64(sizeof(const uint32_t*) * item_pixels * taps);
  at += l.table_bytes * kMaxKernelThreads;
  l.tiles = at;
  if (packed_output) {
    l.tile_bytes =
        Align64(sizeof(float) * item_pixels * static_cast<size_t>(out_c));
    at += l.tile_bytes * kMaxKernelThreads;
  }
  l.total = at + 64;  // room to align the base to 64 bytes
  return l;
}

unsigned char* AlignedBase(void* scratch) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(scratch);
  return reinterpret_cast<unsigned char*>((p + 63) &
                                          ~static_cast<uintptr_t>(63));
}

// One GEMM call: M pixels, each a row of `taps` pointers.
struct GemmJob {
  MicroKernels mk;
  Isa isa = Isa::kPortable;
  GemmMethod method = GemmMethod::kPopcount;
  internal::TableLayout table;  // kTable
  const PackedOutput* packed_out = nullptr;
  int taps = 0, blocks = 0, groups = 0, out_c = 0;
  int64_t pixels = 0;  // M
  int64_t tiles = 0;
  int item_pixels = 0;  // pixels per work item (a tile or a multiple of it)
  int group_chunks = 1;
  int groups_per_chunk = 0;
  const uint32_t* packed = nullptr;
  Activation act = Activation::kNone;
  float* out = nullptr;
  const ScratchLayout* layout = nullptr;
  unsigned char* scratch = nullptr;
  // Pixel rows: conv (offsets table) or fully connected (contiguous rows).
  bool conv = false;
  const uint32_t* x = nullptr;
  int64_t image_words = 0;       // conv: words of one input image
  int64_t pixels_per_image = 0;  // conv: out_h * out_w
  int width = 0;                 // words per input pixel / row
};

// The fields a conv and a fully connected GEMM share; a conv then sets its
// pointer-table fields (conv, image_words, pixels_per_image).
GemmJob MakeJob(Isa isa, int taps, int in_c, int out_c, int64_t pixels,
                const int32_t* x_packed, const uint32_t* packed, Activation act,
                float* out, const PackedOutput* packed_out,
                const ScratchLayout* layout, void* scratch) {
  GemmJob j;
  j.method = PackedGemmMethod(packed);
  if (j.method == GemmMethod::kTable) {
    j.mk = TernaryGemmTableKernels(isa);
    j.table = internal::MakeTableLayout(out_c, taps, in_c);
  } else {
    j.mk = TernaryGemmMicroKernels(isa);
    packed += internal::kGemmHeaderWords;
  }
  j.isa = isa;
  j.packed_out = packed_out;
  j.taps = taps;
  j.blocks = NumBlocks(in_c);
  j.groups = Groups(out_c, j.mk.lanes);
  j.out_c = out_c;
  j.pixels = pixels;
  j.packed = packed;
  j.act = act;
  j.out = out;
  j.layout = layout;
  j.scratch = AlignedBase(scratch);
  j.x = reinterpret_cast<const uint32_t*>(x_packed);
  j.width = PackedWidth(in_c);
  return j;
}

void FillTable(const GemmJob& j, int64_t p0, int n, const uint32_t** table) {
  const uint32_t* zero =
      reinterpret_cast<const uint32_t*>(j.scratch + j.layout->zero_row);
  const int32_t* offsets =
      reinterpret_cast<const int32_t*>(j.scratch + j.layout->offsets);
  if (!j.conv) {
    for (int i = 0; i < n; ++i) table[i] = j.x + (p0 + i) * j.width;
  } else {
    int64_t image = p0 / j.pixels_per_image;
    int64_t in_image = p0 % j.pixels_per_image;
    for (int i = 0; i < n; ++i, ++in_image) {
      if (in_image == j.pixels_per_image) {
        ++image;
        in_image = 0;
      }
      const uint32_t** row = table + static_cast<int64_t>(i) * j.taps;
      const int32_t* off = offsets + in_image * j.taps;
      const uint32_t* base = j.x + image * j.image_words;
      for (int t = 0; t < j.taps; ++t) {
        row[t] = off[t] >= 0 ? base + off[t] : zero;
      }
    }
  }
  // Absent pixels of a fixed-size tile read the zero row.
  const int tile = j.mk.max_pixels > 0 ? n : j.mk.tile;
  for (int i = n; i < tile; ++i) {
    for (int t = 0; t < j.taps; ++t) table[i * j.taps + t] = zero;
  }
}

void RunItem(void* ctx, int64_t item, int worker) {
  const GemmJob& j = *static_cast<const GemmJob*>(ctx);
  const int64_t tile_index = item / j.group_chunks;
  const int chunk = static_cast<int>(item % j.group_chunks);
  const int tile = j.item_pixels;
  const int lanes = j.mk.lanes;
  const int64_t p0 = tile_index * tile;
  const int n = static_cast<int>(j.pixels - p0 < tile ? j.pixels - p0 : tile);
  const uint32_t** table = reinterpret_cast<const uint32_t**>(
      j.scratch + j.layout->tables + j.layout->table_bytes * worker);
  FillTable(j, p0, n, table);
  const int g_begin = chunk * j.groups_per_chunk;
  const int g_end = g_begin + j.groups_per_chunk < j.groups
                        ? g_begin + j.groups_per_chunk
                        : j.groups;
  const bool by_table = j.method == GemmMethod::kTable;
  const int64_t group_words =
      by_table ? 0 : static_cast<int64_t>(j.taps) * j.blocks * 2 * lanes;
  const float* affine =
      by_table
          ? reinterpret_cast<const float*>(j.packed + j.table.scale)
          : reinterpret_cast<const float*>(j.packed + j.groups * group_words);
  MicroKernelArgs a;
  if (by_table) {
    a.table = reinterpret_cast<const int8_t*>(j.packed + j.packed[1]) +
              g_begin * lanes;
    a.row_offset = j.packed + j.table.row_offset;
    a.slices = j.table.slices;
    a.trits = j.table.trits;
    a.table_stride = j.table.stride;
  }
  a.taps = j.taps;
  a.blocks = j.blocks;
  a.act = j.act;
  a.out_stride = j.out_c;
  // A packed output: bits straight from the accumulators (integer
  // thresholds), else the tile's floats go to this thread's scratch tile.
  const bool int_packed =
      j.packed_out != nullptr && j.packed_out->int_thresholds != nullptr;
  float* const tile_out =
      j.packed_out != nullptr
          ? reinterpret_cast<float*>(j.scratch + j.layout->tiles +
                                     j.layout->tile_bytes * worker)
          : j.out + p0 * j.out_c;
  const int out_width = PackedWidth(j.out_c);
  uint8_t* packed_row = nullptr;
  const int32_t* int_th = nullptr;
  const int padded = ThresholdLanes(j.out_c);
  if (int_packed) {
    packed_row = reinterpret_cast<uint8_t*>(j.packed_out->out + p0 * out_width);
    int_th = j.packed_out->int_thresholds;
    a.packed_stride = static_cast<int64_t>(out_width) * 4;
    // Bits past out_c in the last block stay 0; the item that owns the last
    // group owns that block (channel splits are whole blocks).
    if (j.out_c % 32 != 0 && g_end == j.groups) {
      for (int i = 0; i < n; ++i) {
        int32_t* last =
            j.packed_out->out + (p0 + i) * out_width + out_width - 2;
        last[0] = 0;
        last[1] = 0;
      }
    }
  }
  // One call per tile runs the item's whole run of groups.
  a.groups = g_end - g_begin;
  a.first_group = g_begin;
  a.w = j.packed + g_begin * group_words;
  a.scale = affine + g_begin * lanes;
  a.bias = affine + j.groups * lanes + g_begin * lanes;
  a.channels = j.out_c - g_begin * lanes;
  if (int_packed) {
    a.packed = packed_row;
    a.upper = int_th + g_begin * lanes;
    a.lower = int_th + padded + g_begin * lanes;
    a.flip = int_th + 2 * padded + g_begin * lanes;
  }
  // A short last tile runs pixel by pixel rather than computing absent ones
  // (a kernel with max_pixels tiles them itself).
  if (j.mk.max_pixels > 0 || n * 2 > tile) {
    a.x = table;
    a.pixels = n;
    a.out = tile_out + g_begin * lanes;
    j.mk.full(a);
  } else {
    a.pixels = 1;
    for (int i = 0; i < n; ++i) {
      a.x = table + static_cast<int64_t>(i) * j.taps;
      a.out = tile_out + static_cast<int64_t>(i) * j.out_c + g_begin * lanes;
      if (int_packed) a.packed = packed_row + i * a.packed_stride;
      j.mk.single(a);
    }
  }
  if (j.packed_out != nullptr && !int_packed) {
    TernarizeOptimized(tile_out, n, j.out_c, j.packed_out->thresholds, j.isa,
                       j.packed_out->out + p0 * PackedWidth(j.out_c));
  }
}

void RunGemm(GemmJob* j, int threads) {
  if (threads > kMaxKernelThreads) threads = kMaxKernelThreads;
  if (threads < 1) threads = 1;
  // Small layers: waking a thread and joining it (a few microseconds) costs
  // more than it saves. A unit is one pixel x one group x one 32-channel
  // chunk, about 3 cycles of the AVX-512 micro-kernel and 7 of the AVX2 one;
  // below 8192 units (ten to twenty microseconds) one thread runs it.
  // The table kernels (a lookup per quad, an add per quad and 32-channel
  // group) cost about half a unit per quad and group plus one.
  const int64_t work =
      j->method == GemmMethod::kTable
          ? j->pixels * j->taps * j->table.slices * (1 + j->groups) / 2
          : j->pixels * j->groups * j->taps * j->blocks;
  if (work < (int64_t{1} << 13)) threads = 1;
  // Pixels per item: a kernel that tiles its own pixels takes up to
  // max_pixels (its per-group set-up amortized over more of them), but at
  // least about 3 items per thread, so that two threads split a 7x7 layer
  // evenly.
  const int tile = j->mk.tile;
  int item_pixels = tile;
  if (j->mk.max_pixels > 0) {
    const int64_t per = (j->pixels + 3 * threads - 1) / (3 * threads);
    const int64_t rounded = (per + tile - 1) / tile * tile;
    item_pixels = static_cast<int>(
        rounded < tile
            ? tile
            : (rounded > j->mk.max_pixels ? j->mk.max_pixels : rounded));
    if (threads == 1) item_pixels = j->mk.max_pixels;
  }
  j->item_pixels = item_pixels;
  j->tiles = (j->pixels + item_pixels - 1) / item_pixels;
  // Few tiles (late layers, batch-1 dense): split the channels as well, so
  // every thread gets work. A packed output with integer thresholds splits
  // in whole 32-channel blocks (each item writes its own bytes); the float
  // tiles of the other packed outputs need whole pixels.
  int chunks = 1;
  const bool int_packed =
      j->packed_out != nullptr && j->packed_out->int_thresholds != nullptr;
  if (threads > 1 && j->tiles < 4 * threads &&
      (j->packed_out == nullptr || int_packed)) {
    chunks = static_cast<int>((4 * threads + j->tiles - 1) / j->tiles);
    if (chunks > j->groups) chunks = j->groups;
  }
  int per_chunk = (j->groups + chunks - 1) / chunks;
  if (int_packed) {
    const int block_groups = 32 / j->mk.lanes;
    per_chunk = (per_chunk + block_groups - 1) / block_groups * block_groups;
  }
  j->groups_per_chunk = per_chunk;
  j->group_chunks = (j->groups + j->groups_per_chunk - 1) / j->groups_per_chunk;
  const int64_t items = j->tiles * j->group_chunks;
  ParallelFor(threads, items, RunItem, j);
}

}  // namespace

ScratchLayout ConvLayout(Isa isa, const ConvShape& s, bool packed_output) {
  const int taps = s.kernel_h * s.kernel_w;
  return MakeLayout(isa, PackedWidth(s.in_c),
                    static_cast<int64_t>(s.out_h) * s.out_w * taps, taps,
                    s.out_c, packed_output);
}

size_t Conv2DTernaryGemmScratchBytes(Isa isa, const ConvShape& s,
                                     bool packed_output) {
  return ConvLayout(isa, s, packed_output).total;
}

void PrepareConv2DTernaryGemmScratch(Isa isa, const ConvShape& s, void* scratch,
                                     bool packed_output) {
  const int width = PackedWidth(s.in_c);
  const ScratchLayout l = ConvLayout(isa, s, packed_output);
  unsigned char* base = AlignedBase(scratch);
  std::memset(base + l.zero_row, 0, sizeof(uint32_t) * width);
  int32_t* off = reinterpret_cast<int32_t*>(base + l.offsets);
  for (int oy = 0; oy < s.out_h; ++oy) {
    for (int ox = 0; ox < s.out_w; ++ox) {
      for (int ky = 0; ky < s.kernel_h; ++ky) {
        const int iy = oy * s.stride_h - s.pad_top + ky;
        for (int kx = 0; kx < s.kernel_w; ++kx) {
          const int ix = ox * s.stride_w - s.pad_left + kx;
          const bool inside = iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w;
          *off++ = inside ? (iy * s.in_w + ix) * width : -1;
        }
      }
    }
  }
}

void Conv2DTernaryGemm(Isa isa, const ConvShape& s, const int32_t* x_packed,
                       const uint32_t* packed, Activation act, int threads,
                       void* scratch, float* out,
                       const PackedOutput* packed_out) {
  const ScratchLayout l = ConvLayout(isa, s, packed_out != nullptr);
  GemmJob j = MakeJob(isa, s.kernel_h * s.kernel_w, s.in_c, s.out_c,
                      static_cast<int64_t>(s.batch) * s.out_h * s.out_w,
                      x_packed, packed, act, out, packed_out, &l, scratch);
  // A 1x1 conv of stride 1 is a GEMM over contiguous pixel rows (pixel p
  // reads row p, as a fully connected layer): no tap offsets to look up.
  j.conv = !(s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 &&
             s.stride_w == 1);
  j.image_words = static_cast<int64_t>(s.in_h) * s.in_w * j.width;
  j.pixels_per_image = static_cast<int64_t>(s.out_h) * s.out_w;
  RunGemm(&j, threads);
}

size_t FullyConnectedTernaryGemmScratchBytes(Isa isa,
                                             const FullyConnectedShape& s,
                                             bool packed_output) {
  return MakeLayout(isa, PackedWidth(s.in_c), 0, 1, s.out_c, packed_output)
      .total;
}

void PrepareFullyConnectedTernaryGemmScratch(Isa isa,
                                             const FullyConnectedShape& s,
                                             void* scratch,
                                             bool packed_output) {
  const ScratchLayout l =
      MakeLayout(isa, PackedWidth(s.in_c), 0, 1, s.out_c, packed_output);
  std::memset(AlignedBase(scratch) + l.zero_row, 0,
              sizeof(uint32_t) * PackedWidth(s.in_c));
}

void FullyConnectedTernaryGemm(Isa isa, const FullyConnectedShape& s,
                               const int32_t* x_packed, const uint32_t* packed,
                               Activation act, int threads, void* scratch,
                               float* out, const PackedOutput* packed_out) {
  const ScratchLayout l = MakeLayout(isa, PackedWidth(s.in_c), 0, 1, s.out_c,
                                     packed_out != nullptr);
  GemmJob j = MakeJob(isa, 1, s.in_c, s.out_c, s.rows, x_packed, packed, act,
                      out, packed_out, &l, scratch);
  RunGemm(&j, threads);
}

}  // namespace core
}  // namespace sttn
