// Trit packings of docs/op-format.md, TFLite-free.
//
// * File packing ("trit2", op format v1 and v2): 2 bits per trit, 4 trits per
//   byte, little-endian within the byte; codes 0b00 = 0, 0b01 = +1, 0b11 = -1,
//   0b10 invalid; unused bits of the last byte are 0.
// * Base-3 file packing ("base3", op format v2): 5 trits per byte (1.6 bits
//   per trit). Byte b holds trits 5b..5b+4 as b = d0 + 3 d1 + 9 d2 + 27 d3 +
//   81 d4 with digit 0 = 0, 1 = +1, 2 = -1; bytes > 242 are invalid; the
//   missing trits of the last group are 0 (digit 0).
// * Compute packing: channels in blocks of 32; block b is the pair of 32-bit
//   words (mask, sign) at positions 2b and 2b + 1; channel 32 b + j is bit j.
#ifndef STTN_EXPORT_CORE_PACKING_H_
#define STTN_EXPORT_CORE_PACKING_H_

#include <cstddef>
#include <cstdint>

#include "export/core/status.h"

namespace sttn {
namespace core {

// Number of 32-channel blocks for `channels` channels.
inline int NumBlocks(int channels) { return (channels + 31) / 32; }

// Width in int32 words of the compute packing of `channels` channels.
inline int PackedWidth(int channels) { return 2 * NumBlocks(channels); }

// Bytes of the file packing of `n` trits.
inline int64_t FilePackedBytes(int64_t n) { return (n + 3) / 4; }

// The weight encodings of the op format (option `weight_encoding`).
enum class WeightEncoding { kTrit2 = 0, kBase3 = 1 };

// Bytes of the base-3 packing of `n` trits: ceil(n / 5).
inline int64_t Base3PackedBytes(int64_t n) { return (n + 4) / 5; }

// Bytes of `n` trits in `encoding`.
inline int64_t WeightBytes(WeightEncoding encoding, int64_t n) {
  return encoding == WeightEncoding::kBase3 ? Base3PackedBytes(n)
                                            : FilePackedBytes(n);
}

// Decodes `n` base-3 packed trits from `data` (`num_bytes` bytes) into `out`.
// Fails on a wrong byte count, on a byte > 242 (naming the byte index and
// value) and on a nonzero digit past trit n - 1 in the last byte.
Status UnpackTritsBase3(const uint8_t* data, size_t num_bytes, int64_t n,
                        int8_t* out);

// Encodes `n` trits (each -1, 0 or +1) into Base3PackedBytes(n) bytes.
// Fails on a value outside {-1, 0, 1}.
Status PackTritsBase3(const int8_t* trits, int64_t n, uint8_t* out);

// Decodes `n` trits in `encoding` (dispatches to the two functions above).
Status UnpackWeights(WeightEncoding encoding, const uint8_t* data,
                     size_t num_bytes, int64_t n, int8_t* out);

// Decodes `n` file-packed trits from `data` (`num_bytes` bytes) into `out`
// (values -1, 0, +1). Fails on a wrong byte count, on the invalid code 0b10
// (naming the trit index) and on nonzero unused bits of the last byte.
Status UnpackTritsFile(const uint8_t* data, size_t num_bytes, int64_t n,
                       int8_t* out);

// Encodes `n` trits (each -1, 0 or +1) into FilePackedBytes(n) bytes.
// Fails on a value outside {-1, 0, 1}.
Status PackTritsFile(const int8_t* trits, int64_t n, uint8_t* out);

// Packs `rows` rows of `channels` trits into the canonical compute packing:
// `rows` rows of PackedWidth(channels) words.
void PackTritsCompute(const int8_t* trits, int64_t rows, int channels,
                      int32_t* out);

// Inverse of PackTritsCompute. A nonzero sign bit under a zero mask bit
// (non-canonical input) decodes to 0, like the popcount arithmetic treats it.
void UnpackTritsCompute(const int32_t* packed, int64_t rows, int channels,
                        int8_t* out);

// Reads one trit (channel `c`) of a compute-packed row.
inline int TritAt(const int32_t* packed_row, int c) {
  const uint32_t mask = static_cast<uint32_t>(packed_row[2 * (c >> 5)]);
  const uint32_t sign = static_cast<uint32_t>(packed_row[2 * (c >> 5) + 1]);
  const uint32_t bit = 1u << (c & 31);
  if (!(mask & bit)) return 0;
  return (sign & bit) ? -1 : 1;
}

}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_PACKING_H_
