// A small, bounds-checked reader for a FlexBuffer *map* of scalars (the
// custom options of the sttn ops). Our own implementation of the public
// FlexBuffers wire format; every read is checked against the buffer, so a
// corrupt buffer yields an error message, never an out-of-bounds access.
#ifndef STTN_EXPORT_TFLITE_FLEXBUFFER_MAP_H_
#define STTN_EXPORT_TFLITE_FLEXBUFFER_MAP_H_

#include <cstddef>
#include <cstdint>

namespace sttn {
namespace flex {

struct Value {
  enum Kind { kNull, kInt, kUInt, kFloat, kBool, kString, kOther };
  Kind kind = kNull;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0.0;
  bool b = false;
  const char* s = nullptr;  // NUL-terminated, inside the buffer
  size_t s_len = 0;
  int raw_type = 0;  // FlexBuffers type code

  const char* KindName() const;
};

class MapReader {
 public:
  static constexpr int kMaxEntries = 32;

  // Parses `buffer`; on failure returns false and writes a message.
  bool Parse(const uint8_t* buffer, size_t size, char* error,
             size_t error_size);

  int size() const { return count_; }
  const char* key(int i) const { return keys_[i]; }
  const Value& value(int i) const { return values_[i]; }
  // Returns nullptr when `key` is absent.
  const Value* Find(const char* key) const;

 private:
  int count_ = 0;
  const char* keys_[kMaxEntries] = {};
  Value values_[kMaxEntries];
};

}  // namespace flex
}  // namespace sttn

#endif  // STTN_EXPORT_TFLITE_FLEXBUFFER_MAP_H_
