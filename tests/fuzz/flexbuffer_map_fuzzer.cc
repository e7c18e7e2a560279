// libFuzzer target: the FlexBuffer map reader of the custom options
// (export/tflite/flexbuffer_map.*), on arbitrary bytes.
//
// Oracles: no sanitizer report, and on success a self-consistent result:
// at most kMaxEntries entries, every key and string a NUL-terminated run of
// bytes inside the buffer, every key found again by Find, and a failure
// always carries a message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "export/tflite/flexbuffer_map.h"

namespace {

bool Inside(const char* p, size_t len, const uint8_t* buf, size_t size) {
  const auto* b = reinterpret_cast<const char*>(buf);
  return p >= b && len < size && static_cast<size_t>(p - b) <= size - len - 1 &&
         p[len] == '\0';
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "flexbuffer_map oracle: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so ASan sees any read past the end.
  std::vector<uint8_t> buf(data, data + size);
  const uint8_t* p = size > 0 ? buf.data() : nullptr;
  sttn::flex::MapReader m;
  char error[200] = {};
  if (!m.Parse(p, size, error, sizeof(error))) {
    if (error[0] == '\0') Fail("a failed parse left no message");
    if (std::memchr(error, '\0', sizeof(error)) == nullptr) {
      Fail("unterminated message");
    }
    return 0;
  }
  if (m.size() < 0 || m.size() > sttn::flex::MapReader::kMaxEntries) {
    Fail("entry count out of range");
  }
  for (int i = 0; i < m.size(); ++i) {
    const char* key = m.key(i);
    if (key == nullptr || !Inside(key, std::strlen(key), p, size)) {
      Fail("key outside the buffer");
    }
    if (m.Find(key) == nullptr) Fail("Find misses a listed key");
    const sttn::flex::Value& v = m.value(i);
    if (v.kind == sttn::flex::Value::kString) {
      if (v.s == nullptr || !Inside(v.s, v.s_len, p, size)) {
        Fail("string value outside the buffer");
      }
    }
    if (v.KindName() == nullptr) Fail("no kind name");
  }
  // A reader reused for a second buffer starts afresh.
  if (m.Parse(p, size / 2, error, sizeof(error)) && m.size() > 32) {
    Fail("reuse");
  }
  return 0;
}
