// Custom option parsing of the sttn ops (options.h).
#include "export/tflite/options.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "export/tflite/flexbuffer_map.h"

namespace sttn {
namespace tflite {
namespace internal {
namespace {

void SetOptionsError(OpData* od, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void SetOptionsError(OpData* od, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(od->options_error, sizeof(od->options_error), format, args);
  va_end(args);
  od->options_ok = false;
}

bool GetInt(const flex::MapReader& m, OpData* od, const char* key,
            int64_t min_value, int64_t max_value, int64_t* out) {
  const char* op = OpName(od->kind);
  const flex::Value* v = m.Find(key);
  if (v == nullptr) {
    SetOptionsError(od, "%s: custom option `%s` is missing", op, key);
    return false;
  }
  int64_t value;
  if (v->kind == flex::Value::kInt) {
    value = v->i;
  } else if (v->kind == flex::Value::kUInt) {
    if (v->u > static_cast<uint64_t>(INT64_MAX)) {
      SetOptionsError(od,
                      "%s: custom option `%s` must be in [%" PRId64 ", %" PRId64
                      "], received %" PRIu64,
                      op, key, min_value, max_value, v->u);
      return false;
    }
    value = static_cast<int64_t>(v->u);
  } else {
    SetOptionsError(od, "%s: custom option `%s` must be an int, received a %s",
                    op, key, v->KindName());
    return false;
  }
  if (value < min_value || value > max_value) {
    SetOptionsError(od,
                    "%s: custom option `%s` must be in [%" PRId64 ", %" PRId64
                    "], received %" PRId64,
                    op, key, min_value, max_value, value);
    return false;
  }
  *out = value;
  return true;
}

bool GetPositiveInt(const flex::MapReader& m, OpData* od, const char* key,
                    int64_t max_value, int* out) {
  int64_t v;
  if (!GetInt(m, od, key, 1, max_value, &v)) return false;
  *out = static_cast<int>(v);
  return true;
}

// Reads a string option that must be one of `allowed` (nullptr-terminated);
// stores its index.
bool GetEnum(const flex::MapReader& m, OpData* od, const char* key,
             const char* const* allowed, const char* allowed_text, int* out) {
  const char* op = OpName(od->kind);
  const flex::Value* v = m.Find(key);
  if (v == nullptr) {
    SetOptionsError(od, "%s: custom option `%s` is missing", op, key);
    return false;
  }
  if (v->kind != flex::Value::kString) {
    SetOptionsError(od,
                    "%s: custom option `%s` must be a string, received a %s",
                    op, key, v->KindName());
    return false;
  }
  for (int i = 0; allowed[i] != nullptr; ++i) {
    // Compare with the stored length: an embedded NUL must not match.
    if (v->s_len == std::strlen(allowed[i]) &&
        std::memcmp(v->s, allowed[i], v->s_len) == 0) {
      *out = i;
      return true;
    }
  }
  SetOptionsError(od, "%s: custom option `%s` must be %s, received \"%.64s\"",
                  op, key, allowed_text, v->s);
  return false;
}

constexpr int64_t kMaxChannels = 1 << 24;
constexpr int64_t kMaxKernelOrStride = 1 << 16;

}  // namespace

void ParseOptions(OpData* od, const char* buffer, size_t length) {
  const char* op = OpName(od->kind);
  flex::MapReader m;
  char error[200];
  if (!m.Parse(reinterpret_cast<const uint8_t*>(buffer), length, error,
               sizeof(error))) {
    SetOptionsError(od, "%s: %s", op, error);
    return;
  }
  // Keys each op accepts. `tfl_fusable_op` is the marker attribute of the
  // converter's experimental_implements route; it carries no meaning here.
  static const char* const kTernarizeKeys[] = {"version", "channels", nullptr};
  static const char* const kFcKeys[] = {
      "version", "in_channels",     "out_channels", "activation",
      "output",  "weight_encoding", nullptr};
  static const char* const kConvKeys[] = {
      "version",    "in_channels", "out_channels",    "kernel_h",
      "kernel_w",   "stride_h",    "stride_w",        "padding",
      "activation", "output",      "weight_encoding", nullptr};
  static const char* const kDepthwiseKeys[] = {
      "version",    "in_channels",      "out_channels", "kernel_h",
      "kernel_w",   "stride_h",         "stride_w",     "padding",
      "activation", "depth_multiplier", "output",       "weight_encoding",
      nullptr};
  const char* const* keys = od->kind == OpKind::kTernarize ? kTernarizeKeys
                            : IsFullyConnected(od->kind)   ? kFcKeys
                            : IsConv(od->kind)             ? kConvKeys
                                                           : kDepthwiseKeys;
  for (int i = 0; i < m.size(); ++i) {
    bool known = std::strcmp(m.key(i), "tfl_fusable_op") == 0;
    for (int k = 0; !known && keys[k] != nullptr; ++k) {
      known = std::strcmp(m.key(i), keys[k]) == 0;
    }
    if (!known) {
      SetOptionsError(od, "%s: unknown custom option `%.64s`", op, m.key(i));
      return;
    }
  }

  if (!GetInt(m, od, "version", INT64_MIN, INT64_MAX, &od->version)) return;
  if (od->version < kOldestOpFormatVersion || od->version > kOpFormatVersion) {
    SetOptionsError(od,
                    "%s: custom option `version` is %" PRId64
                    ", but these kernels implement op format versions %d to %d "
                    "(re-export the model with this sttn-keras, or update the "
                    "runtime)",
                    op, od->version, kOldestOpFormatVersion, kOpFormatVersion);
    return;
  }
  if (od->kind == OpKind::kTernarize) {
    if (!GetPositiveInt(m, od, "channels", kMaxChannels, &od->channels)) return;
    od->options_ok = true;
    return;
  }
  if (!GetPositiveInt(m, od, "in_channels", kMaxChannels, &od->in_c)) return;
  if (!GetPositiveInt(m, od, "out_channels", kMaxChannels, &od->out_c)) return;
  static const char* const kActivations[] = {"NONE", "RELU", nullptr};
  int act;
  if (!GetEnum(m, od, "activation", kActivations, "\"NONE\" or \"RELU\"",
               &act)) {
    return;
  }
  od->activation = act == 1 ? core::Activation::kRelu : core::Activation::kNone;
  if (m.Find("output") != nullptr) {
    if (od->version < 2) {
      SetOptionsError(
          od,
          "%s: custom option `output` needs op format version >= 2, "
          "received version %" PRId64,
          op, od->version);
      return;
    }
    static const char* const kOutputs[] = {"FLOAT", "PACKED", nullptr};
    int output;
    if (!GetEnum(m, od, "output", kOutputs, "\"FLOAT\" or \"PACKED\"",
                 &output)) {
      return;
    }
    od->packed_out = output == 1;
  }
  if (m.Find("weight_encoding") != nullptr) {
    if (od->version < 2) {
      SetOptionsError(od,
                      "%s: custom option `weight_encoding` needs op format "
                      "version >= 2, but `version` is %" PRId64,
                      op, od->version);
      return;
    }
    static const char* const kEncodings[] = {"trit2", "base3", nullptr};
    int enc;
    if (!GetEnum(m, od, "weight_encoding", kEncodings, "\"trit2\" or \"base3\"",
                 &enc)) {
      return;
    }
    od->weight_encoding =
        enc == 1 ? core::WeightEncoding::kBase3 : core::WeightEncoding::kTrit2;
  }
  if (IsFullyConnected(od->kind)) {
    od->options_ok = true;
    return;
  }
  if (!GetPositiveInt(m, od, "kernel_h", kMaxKernelOrStride, &od->kernel_h) ||
      !GetPositiveInt(m, od, "kernel_w", kMaxKernelOrStride, &od->kernel_w) ||
      !GetPositiveInt(m, od, "stride_h", kMaxKernelOrStride, &od->stride_h) ||
      !GetPositiveInt(m, od, "stride_w", kMaxKernelOrStride, &od->stride_w)) {
    return;
  }
  static const char* const kPaddings[] = {"SAME", "VALID", nullptr};
  int pad;
  if (!GetEnum(m, od, "padding", kPaddings, "\"SAME\" or \"VALID\"", &pad)) {
    return;
  }
  od->padding = pad == 0 ? core::Padding::kSame : core::Padding::kValid;
  if (IsDepthwise(od->kind)) {
    if (!GetPositiveInt(m, od, "depth_multiplier", kMaxChannels,
                        &od->depth_multiplier)) {
      return;
    }
    if (static_cast<int64_t>(od->in_c) * od->depth_multiplier != od->out_c) {
      SetOptionsError(od,
                      "%s: custom option `out_channels` (%d) must equal "
                      "in_channels * depth_multiplier (%d * %d)",
                      op, od->out_c, od->in_c, od->depth_multiplier);
      return;
    }
  }
  od->options_ok = true;
}

}  // namespace internal
}  // namespace tflite
}  // namespace sttn
