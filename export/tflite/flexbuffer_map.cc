#include "export/tflite/flexbuffer_map.h"

#include <cstdio>
#include <cstring>

namespace sttn {
namespace flex {
namespace {

// FlexBuffers type codes used here.
enum : int {
  kTypeNull = 0,
  kTypeInt = 1,
  kTypeUInt = 2,
  kTypeFloat = 3,
  kTypeKey = 4,
  kTypeString = 5,
  kTypeIndirectInt = 6,
  kTypeIndirectUInt = 7,
  kTypeIndirectFloat = 8,
  kTypeMap = 9,
  kTypeBool = 26,
};

class Cursor {
 public:
  Cursor(const uint8_t* buf, size_t size) : buf_(buf), size_(size) {}

  bool InRange(size_t pos, size_t len) const {
    return pos <= size_ && len <= size_ - pos;
  }

  bool ReadUInt(size_t pos, size_t width, uint64_t* out) const {
    if (!(width == 1 || width == 2 || width == 4 || width == 8)) return false;
    if (!InRange(pos, width)) return false;
    uint64_t v = 0;
    for (size_t k = 0; k < width; ++k) {
      v |= static_cast<uint64_t>(buf_[pos + k]) << (8 * k);
    }
    *out = v;
    return true;
  }

  bool ReadInt(size_t pos, size_t width, int64_t* out) const {
    uint64_t u;
    if (!ReadUInt(pos, width, &u)) return false;
    if (width < 8) {
      const uint64_t sign_bit = uint64_t{1} << (8 * width - 1);
      if (u & sign_bit) u |= ~((sign_bit << 1) - 1);
    }
    std::memcpy(out, &u, sizeof(*out));
    return true;
  }

  bool ReadFloat(size_t pos, size_t width, double* out) const {
    if (width == 4) {
      uint64_t u;
      if (!ReadUInt(pos, 4, &u)) return false;
      const uint32_t u32 = static_cast<uint32_t>(u);
      float f;
      std::memcpy(&f, &u32, 4);
      *out = f;
      return true;
    }
    if (width == 8) {
      uint64_t u;
      if (!ReadUInt(pos, 8, &u)) return false;
      std::memcpy(out, &u, 8);
      return true;
    }
    return false;
  }

  // Follows the offset stored at `pos` (width `width`) backwards.
  bool Deref(size_t pos, size_t width, size_t* target) const {
    uint64_t off;
    if (!ReadUInt(pos, width, &off)) return false;
    if (off == 0 || off > pos) return false;
    *target = pos - static_cast<size_t>(off);
    return true;
  }

  // A NUL-terminated string starting at `pos` inside the buffer.
  bool CString(size_t pos, const char** out, size_t* len) const {
    if (pos >= size_) return false;
    const void* nul = std::memchr(buf_ + pos, 0, size_ - pos);
    if (nul == nullptr) return false;
    *out = reinterpret_cast<const char*>(buf_ + pos);
    *len = static_cast<size_t>(static_cast<const uint8_t*>(nul) - (buf_ + pos));
    return true;
  }

  const uint8_t* data() const { return buf_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* buf_;
  size_t size_;
};

bool Fail(char* error, size_t error_size, const char* message) {
  if (error_size > 0) std::snprintf(error, error_size, "%s", message);
  return false;
}

}  // namespace

const char* Value::KindName() const {
  switch (kind) {
    case kNull:
      return "null";
    case kInt:
      return "int";
    case kUInt:
      return "uint";
    case kFloat:
      return "float";
    case kBool:
      return "bool";
    case kString:
      return "string";
    default:
      return "non-scalar";
  }
}

bool MapReader::Parse(const uint8_t* buffer, size_t size, char* error,
                      size_t error_size) {
  count_ = 0;
  if (buffer == nullptr || size < 3) {
    return Fail(error, error_size,
                "custom options are empty or too short to be a FlexBuffer");
  }
  Cursor cur(buffer, size);
  const size_t root_width = buffer[size - 1];
  const uint8_t root_packed = buffer[size - 2];
  if (!(root_width == 1 || root_width == 2 || root_width == 4 ||
        root_width == 8) ||
      root_width > size - 2) {
    return Fail(error, error_size,
                "custom options are not a FlexBuffer (bad root byte width)");
  }
  if ((root_packed >> 2) != kTypeMap) {
    return Fail(error, error_size,
                "custom options root is not a FlexBuffer map");
  }
  const size_t root_pos = size - 2 - root_width;
  size_t map_pos;
  if (!cur.Deref(root_pos, root_width, &map_pos)) {
    return Fail(error, error_size, "custom options: map offset out of range");
  }
  const size_t width = size_t{1} << (root_packed & 3);
  if (map_pos < 3 * width) {
    return Fail(error, error_size, "custom options: map header out of range");
  }
  uint64_t count, keys_width;
  size_t keys_pos;
  if (!cur.ReadUInt(map_pos - width, width, &count) ||
      !cur.ReadUInt(map_pos - 2 * width, width, &keys_width) ||
      !cur.Deref(map_pos - 3 * width, width, &keys_pos)) {
    return Fail(error, error_size, "custom options: corrupt map header");
  }
  if (count > static_cast<uint64_t>(kMaxEntries)) {
    return Fail(error, error_size, "custom options: map has too many entries");
  }
  if (!(keys_width == 1 || keys_width == 2 || keys_width == 4 ||
        keys_width == 8)) {
    return Fail(error, error_size, "custom options: bad key vector width");
  }
  uint64_t keys_count;
  if (keys_pos < keys_width ||
      !cur.ReadUInt(keys_pos - keys_width, keys_width, &keys_count) ||
      keys_count != count) {
    return Fail(error, error_size, "custom options: corrupt key vector");
  }
  const size_t n = static_cast<size_t>(count);
  if (!cur.InRange(map_pos, n * width + n) ||
      !cur.InRange(keys_pos, n * keys_width)) {
    return Fail(error, error_size, "custom options: map entries out of range");
  }
  for (size_t i = 0; i < n; ++i) {
    size_t key_pos;
    const char* key;
    size_t key_len;
    if (!cur.Deref(keys_pos + i * keys_width, keys_width, &key_pos) ||
        !cur.CString(key_pos, &key, &key_len)) {
      return Fail(error, error_size, "custom options: corrupt key string");
    }
    for (int j = 0; j < count_; ++j) {
      if (std::strcmp(keys_[j], key) == 0) {
        return Fail(error, error_size, "custom options: duplicate key");
      }
    }
    const size_t slot = map_pos + i * width;
    const uint8_t packed = buffer[map_pos + n * width + i];
    const int type = packed >> 2;
    const size_t child_width = size_t{1} << (packed & 3);
    Value v;
    v.raw_type = type;
    bool ok = true;
    size_t target = 0;
    switch (type) {
      case kTypeNull:
        v.kind = Value::kNull;
        break;
      case kTypeInt:
        v.kind = Value::kInt;
        ok = cur.ReadInt(slot, width, &v.i);
        break;
      case kTypeUInt:
        v.kind = Value::kUInt;
        ok = cur.ReadUInt(slot, width, &v.u);
        break;
      case kTypeBool:
        v.kind = Value::kBool;
        ok = cur.ReadUInt(slot, width, &v.u);
        v.b = v.u != 0;
        break;
      case kTypeFloat:
        v.kind = Value::kFloat;
        ok = cur.ReadFloat(slot, width, &v.f);
        break;
      case kTypeIndirectInt:
        v.kind = Value::kInt;
        ok = cur.Deref(slot, width, &target) &&
             cur.ReadInt(target, child_width, &v.i);
        break;
      case kTypeIndirectUInt:
        v.kind = Value::kUInt;
        ok = cur.Deref(slot, width, &target) &&
             cur.ReadUInt(target, child_width, &v.u);
        break;
      case kTypeIndirectFloat:
        v.kind = Value::kFloat;
        ok = cur.Deref(slot, width, &target) &&
             cur.ReadFloat(target, child_width, &v.f);
        break;
      case kTypeString: {
        v.kind = Value::kString;
        uint64_t len = 0;
        ok = cur.Deref(slot, width, &target) && target >= child_width &&
             cur.ReadUInt(target - child_width, child_width, &len) &&
             cur.InRange(target, static_cast<size_t>(len) + 1) && len < size &&
             buffer[target + static_cast<size_t>(len)] == 0;
        if (ok) {
          v.s = reinterpret_cast<const char*>(buffer + target);
          v.s_len = static_cast<size_t>(len);
        }
        break;
      }
      case kTypeKey:
        v.kind = Value::kString;
        ok = cur.Deref(slot, width, &target) &&
             cur.CString(target, &v.s, &v.s_len);
        break;
      default:
        v.kind = Value::kOther;
        break;
    }
    if (!ok) {
      if (error_size > 0) {
        std::snprintf(error, error_size,
                      "custom options: corrupt value for key '%s'", key);
      }
      return false;
    }
    keys_[count_] = key;
    values_[count_] = v;
    ++count_;
  }
  return true;
}

const Value* MapReader::Find(const char* key) const {
  for (int i = 0; i < count_; ++i) {
    if (std::strcmp(keys_[i], key) == 0) return &values_[i];
  }
  return nullptr;
}

}  // namespace flex
}  // namespace sttn
