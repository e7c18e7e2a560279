#include "export/core/packing.h"

#include <cinttypes>

namespace sttn {
namespace core {

Status UnpackTritsFile(const uint8_t* data, size_t num_bytes, int64_t n,
                       int8_t* out) {
  if (n < 0) return Status::Error("negative trit count %" PRId64, n);
  const int64_t expected = FilePackedBytes(n);
  if (static_cast<int64_t>(num_bytes) != expected) {
    return Status::Error(
        "packed weights hold %zu bytes, expected ceil(%" PRId64
        " / 4) = %" PRId64,
        num_bytes, n, expected);
  }
  if (n > 0 && data == nullptr) return Status::Error("packed weights are null");
  for (int64_t i = 0; i < n; ++i) {
    const unsigned code = (data[i >> 2] >> (2 * (i & 3))) & 3u;
    switch (code) {
      case 0:
        out[i] = 0;
        break;
      case 1:
        out[i] = 1;
        break;
      case 3:
        out[i] = -1;
        break;
      default:
        return Status::Error("invalid trit code 0b10 at trit %" PRId64
                             " (byte %" PRId64 ")",
                             i, i >> 2);
    }
  }
  if (n % 4 != 0) {
    const unsigned used_bits = 2u * static_cast<unsigned>(n % 4);
    const unsigned unused = data[expected - 1] >> used_bits;
    if (unused != 0) {
      return Status::Error(
          "unused bits of the last packed weight byte are not 0 (byte "
          "0x%02x, %u trits used)",
          data[expected - 1], static_cast<unsigned>(n % 4));
    }
  }
  return Status::Ok();
}

Status PackTritsFile(const int8_t* trits, int64_t n, uint8_t* out) {
  if (n < 0) return Status::Error("negative trit count %" PRId64, n);
  const int64_t bytes = FilePackedBytes(n);
  for (int64_t b = 0; b < bytes; ++b) out[b] = 0;
  for (int64_t i = 0; i < n; ++i) {
    unsigned code;
    switch (trits[i]) {
      case 0:
        code = 0;
        break;
      case 1:
        code = 1;
        break;
      case -1:
        code = 3;
        break;
      default:
        return Status::Error("value %d at index %" PRId64 " is not a trit",
                             trits[i], i);
    }
    out[i >> 2] = static_cast<uint8_t>(out[i >> 2] | (code << (2 * (i & 3))));
  }
  return Status::Ok();
}

void PackTritsCompute(const int8_t* trits, int64_t rows, int channels,
                      int32_t* out) {
  const int blocks = NumBlocks(channels);
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* row = trits + r * channels;
    int32_t* dst = out + r * 2 * blocks;
    for (int b = 0; b < blocks; ++b) {
      uint32_t mask = 0, sign = 0;
      const int begin = 32 * b;
      const int end = begin + 32 < channels ? begin + 32 : channels;
      for (int c = begin; c < end; ++c) {
        const uint32_t bit = 1u << (c - begin);
        if (row[c] != 0) mask |= bit;
        if (row[c] < 0) sign |= bit;
      }
      dst[2 * b] = static_cast<int32_t>(mask);
      dst[2 * b + 1] = static_cast<int32_t>(sign);
    }
  }
}

void UnpackTritsCompute(const int32_t* packed, int64_t rows, int channels,
                        int8_t* out) {
  const int width = PackedWidth(channels);
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* row = packed + r * width;
    int8_t* dst = out + r * channels;
    for (int c = 0; c < channels; ++c) {
      dst[c] = static_cast<int8_t>(TritAt(row, c));
    }
  }
}

}  // namespace core
}  // namespace sttn
