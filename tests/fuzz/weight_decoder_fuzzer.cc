// libFuzzer target: the weight decoders of the op format
// (export/core/packing.*): trit2 (UnpackTritsFile) and base3
// (UnpackTritsBase3), through UnpackWeights as the kernels call it, and the
// compute packing.
//
// Input: byte 0 selects the encoding, bytes 1-2 shift the trit count n
// around the count the payload's size implies; the rest is the payload.
// Oracles: no sanitizer report; a decoded trit is -1, 0 or +1; a successful
// decode re-encodes to the same bytes (the codes are canonical: invalid
// codes and nonzero padding are rejected); a wrong byte count is rejected;
// the compute packing round-trips and TritAt agrees with it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "export/core/packing.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "weight decoder oracle: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sttn::core::WeightEncoding;
  if (size < 3) return 0;
  const WeightEncoding enc =
      data[0] & 1 ? WeightEncoding::kBase3 : WeightEncoding::kTrit2;
  const int per_byte = enc == WeightEncoding::kBase3 ? 5 : 4;
  const int shift = static_cast<int8_t>(data[1]);
  const bool claim_other_size = data[2] & 1;
  // Exactly the payload, so ASan sees any read past it.
  std::vector<uint8_t> payload(data + 3, data + size);
  const size_t bytes = payload.size();
  int64_t n = static_cast<int64_t>(bytes) * per_byte - (shift & 7);
  if (shift < 0) n = static_cast<int64_t>(bytes) * per_byte + shift;
  if (n < 0) n = 0;
  const size_t claimed = claim_other_size ? bytes + (data[2] >> 1) % 3 : bytes;
  std::vector<int8_t> trits(static_cast<size_t>(n) + 1, 7);
  const sttn::core::Status st =
      sttn::core::UnpackWeights(enc, payload.empty() ? nullptr : payload.data(),
                                claimed, n, trits.data());
  const int64_t expected = sttn::core::WeightBytes(enc, n);
  if (static_cast<int64_t>(claimed) != expected && st.ok()) {
    Fail("accepted a wrong byte count");
  }
  if (!st.ok()) {
    if (st.message()[0] == '\0') Fail("error without a message");
    return 0;
  }
  if (trits[static_cast<size_t>(n)] != 7) Fail("wrote past n trits");
  for (int64_t i = 0; i < n; ++i) {
    if (trits[i] < -1 || trits[i] > 1) Fail("decoded value outside {-1,0,1}");
  }
  // Canonical code: encoding the trits gives the payload back.
  std::vector<uint8_t> again(static_cast<size_t>(expected) + 1, 0xEE);
  const sttn::core::Status enc_st =
      enc == WeightEncoding::kBase3
          ? sttn::core::PackTritsBase3(trits.data(), n, again.data())
          : sttn::core::PackTritsFile(trits.data(), n, again.data());
  if (!enc_st.ok()) Fail("re-encoding decoded trits failed");
  if (again[static_cast<size_t>(expected)] != 0xEE) Fail("encoder overran");
  if (expected > 0 && std::memcmp(again.data(), payload.data(),
                                  static_cast<size_t>(expected))) {
    Fail("decode/encode is not the identity on an accepted payload");
  }
  // Compute packing of the same trits as rows of `channels`.
  const int channels = 1 + static_cast<int>(data[2] % 97);
  const int64_t rows = n / channels;
  if (rows > 0) {
    const int width = sttn::core::PackedWidth(channels);
    std::vector<int32_t> packed(static_cast<size_t>(rows * width));
    sttn::core::PackTritsCompute(trits.data(), rows, channels, packed.data());
    std::vector<int8_t> back(static_cast<size_t>(rows * channels));
    sttn::core::UnpackTritsCompute(packed.data(), rows, channels, back.data());
    if (std::memcmp(back.data(), trits.data(), back.size())) {
      Fail("compute packing does not round-trip");
    }
    for (int64_t r = 0; r < rows; ++r) {
      for (int c = 0; c < channels; ++c) {
        if (sttn::core::TritAt(&packed[r * width], c) !=
            trits[r * channels + c]) {
          Fail("TritAt disagrees with PackTritsCompute");
        }
      }
    }
  }
  return 0;
}
