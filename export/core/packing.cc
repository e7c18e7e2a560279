#include "export/core/packing.h"

#include <cinttypes>

namespace sttn {
namespace core {

Status UnpackTritsFile(const uint8_t* data, size_t num_bytes, int64_t n,
                       int8_t* out) {
  if (n < 0) return Status::Error("negative trit count %" PRId64, n);
  const int64_t expected = FilePackedBytes(n);
  if (static_cast<int64_t>(num_bytes) != expected) {
    return Status::Error("packed weights hold %zu bytes, expected ceil(%" PRId64
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

namespace {

// The base-3 digit of a trit (0 -> 0, +1 -> 1, -1 -> 2); false for a value
// that is not a trit.
inline bool Base3Digit(int8_t trit, unsigned* digit) {
  if (trit < -1 || trit > 1) return false;
  *digit = trit == -1 ? 2u : static_cast<unsigned>(trit);
  return true;
}

Status NotATrit(const int8_t* trits, int64_t i) {
  return Status::Error("value %d at index %" PRId64 " is not a trit", trits[i],
                       i);
}

}  // namespace

Status PackTritsFile(const int8_t* trits, int64_t n, uint8_t* out) {
  if (n < 0) return Status::Error("negative trit count %" PRId64, n);
  const int64_t bytes = FilePackedBytes(n);
  for (int64_t b = 0; b < bytes; ++b) out[b] = 0;
  for (int64_t i = 0; i < n; ++i) {
    unsigned digit;
    if (!Base3Digit(trits[i], &digit)) return NotATrit(trits, i);
    const unsigned code = digit == 2 ? 3u : digit;  // 0b00, 0b01, 0b11
    out[i >> 2] = static_cast<uint8_t>(out[i >> 2] | (code << (2 * (i & 3))));
  }
  return Status::Ok();
}

namespace {

// kBase3Table[b][i] is trit i of the valid byte b (b <= 242).
struct Base3Table {
  int8_t trits[243][5];
  Base3Table() {
    static const int8_t kTritOfDigit[3] = {0, 1, -1};
    for (int b = 0; b < 243; ++b) {
      int v = b;
      for (int i = 0; i < 5; ++i) {
        trits[b][i] = kTritOfDigit[v % 3];
        v /= 3;
      }
    }
  }
};

const Base3Table& GetBase3Table() {
  static const Base3Table table;
  return table;
}

}  // namespace

Status UnpackTritsBase3(const uint8_t* data, size_t num_bytes, int64_t n,
                        int8_t* out) {
  if (n < 0) return Status::Error("negative trit count %" PRId64, n);
  const int64_t expected = Base3PackedBytes(n);
  if (static_cast<int64_t>(num_bytes) != expected) {
    return Status::Error(
        "base3 packed weights hold %zu bytes, expected ceil(%" PRId64
        " / 5) = %" PRId64,
        num_bytes, n, expected);
  }
  if (n > 0 && data == nullptr) return Status::Error("packed weights are null");
  const Base3Table& table = GetBase3Table();
  const int64_t full = n / 5;
  for (int64_t b = 0; b < expected; ++b) {
    const unsigned v = data[b];
    if (v > 242) {
      return Status::Error("invalid base3 byte %u (> 242) at byte %" PRId64, v,
                           b);
    }
    const int8_t* t = table.trits[v];
    if (b < full) {
      int8_t* dst = out + 5 * b;
      dst[0] = t[0];
      dst[1] = t[1];
      dst[2] = t[2];
      dst[3] = t[3];
      dst[4] = t[4];
    } else {
      const int used = static_cast<int>(n - 5 * b);
      for (int i = 0; i < 5; ++i) {
        if (i < used) {
          out[5 * b + i] = t[i];
        } else if (t[i] != 0) {
          return Status::Error(
              "unused base3 digits of the last packed weight byte are not 0 "
              "(byte %u, %d trits used)",
              v, used);
        }
      }
    }
  }
  return Status::Ok();
}

Status PackTritsBase3(const int8_t* trits, int64_t n, uint8_t* out) {
  if (n < 0) return Status::Error("negative trit count %" PRId64, n);
  const int64_t bytes = Base3PackedBytes(n);
  for (int64_t b = 0; b < bytes; ++b) {
    unsigned v = 0;
    for (int i = 4; i >= 0; --i) {
      const int64_t k = 5 * b + i;
      unsigned digit = 0;
      if (k < n && !Base3Digit(trits[k], &digit)) return NotATrit(trits, k);
      v = 3 * v + digit;
    }
    out[b] = static_cast<uint8_t>(v);
  }
  return Status::Ok();
}

Status UnpackWeights(WeightEncoding encoding, const uint8_t* data,
                     size_t num_bytes, int64_t n, int8_t* out) {
  return encoding == WeightEncoding::kBase3
             ? UnpackTritsBase3(data, num_bytes, n, out)
             : UnpackTritsFile(data, num_bytes, n, out);
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
