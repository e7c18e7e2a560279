// Tensor checks and constant loading of the sttn ops (tensor_checks.h).
#include "export/tflite/tensor_checks.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "export/core/kernels.h"
#include "export/core/packing.h"

namespace sttn {
namespace tflite {
namespace internal {
namespace {

const char* TypeName(TfLiteType t) {
  switch (t) {
    case kTfLiteFloat32:
      return "float32";
    case kTfLiteInt32:
      return "int32";
    case kTfLiteUInt8:
      return "uint8";
    case kTfLiteInt64:
      return "int64";
    case kTfLiteInt8:
      return "int8";
    default:
      return "another type";
  }
}

}  // namespace

void Report(TfLiteOpaqueContext* ctx, const OpData* od, const char* format,
            ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  TfLiteOpaqueContextReportError(ctx, "%s: %s", OpName(od->kind), message);
}

bool CheckTensor(TfLiteOpaqueContext* ctx, const OpData* od,
                 const TfLiteOpaqueTensor* t, const char* what, TfLiteType type,
                 int rank) {
  if (t == nullptr) {
    Report(ctx, od, "%s is missing", what);
    return false;
  }
  if (TfLiteOpaqueTensorType(t) != type) {
    Report(ctx, od, "%s must be %s, received %s", what, TypeName(type),
           TypeName(TfLiteOpaqueTensorType(t)));
    return false;
  }
  if (rank >= 0 && TfLiteOpaqueTensorNumDims(t) != rank) {
    Report(ctx, od, "%s must have rank %d, received rank %d", what, rank,
           static_cast<int>(TfLiteOpaqueTensorNumDims(t)));
    return false;
  }
  return true;
}

bool CheckConstant(TfLiteOpaqueContext* ctx, const OpData* od,
                   const TfLiteOpaqueTensor* t, const char* what) {
  const TfLiteAllocationType a = TfLiteOpaqueTensorGetAllocationType(t);
  if (a != kTfLiteMmapRo && a != kTfLitePersistentRo) {
    Report(ctx, od, "%s must be a constant tensor", what);
    return false;
  }
  if (TfLiteOpaqueTensorData(t) == nullptr) {
    Report(ctx, od, "%s has no data", what);
    return false;
  }
  return true;
}

int64_t NumElements(const TfLiteOpaqueTensor* t) {
  int64_t n = 1;
  const int rank = TfLiteOpaqueTensorNumDims(t);
  for (int i = 0; i < rank; ++i) {
    const int32_t d = TfLiteOpaqueTensorDim(t, i);
    if (d < 0) return -1;
    n *= d;
    if (n > (int64_t{1} << 40)) return -1;
  }
  return n;
}

bool LoadFloatVector(TfLiteOpaqueContext* ctx, OpData* od,
                     const TfLiteOpaqueTensor* t, const char* what, int n,
                     HeapArray<float>* dst) {
  if (!CheckTensor(ctx, od, t, what, kTfLiteFloat32, 1)) return false;
  if (TfLiteOpaqueTensorDim(t, 0) != n) {
    Report(ctx, od, "%s must have length out_channels = %d, received %d", what,
           n, static_cast<int>(TfLiteOpaqueTensorDim(t, 0)));
    return false;
  }
  if (!CheckConstant(ctx, od, t, what)) return false;
  if (TfLiteOpaqueTensorByteSize(t) != static_cast<size_t>(n) * sizeof(float)) {
    Report(ctx, od, "%s holds %zu bytes, expected %zu", what,
           TfLiteOpaqueTensorByteSize(t),
           static_cast<size_t>(n) * sizeof(float));
    return false;
  }
  if (!dst->Resize(static_cast<size_t>(n))) {
    Report(ctx, od, "out of memory copying %s", what);
    return false;
  }
  std::memcpy(dst->data(), TfLiteOpaqueTensorData(t),
              static_cast<size_t>(n) * sizeof(float));
  return true;
}

bool LoadThresholds(TfLiteOpaqueContext* ctx, OpData* od,
                    const TfLiteOpaqueTensor* th, const char* what,
                    int channels, HeapArray<float>* dst) {
  if (!CheckTensor(ctx, od, th, what, kTfLiteFloat32, 2)) return false;
  if (TfLiteOpaqueTensorDim(th, 0) != 3 ||
      TfLiteOpaqueTensorDim(th, 1) != channels) {
    Report(ctx, od, "%s must have shape [3, %d], received [%d, %d]", what,
           channels, static_cast<int>(TfLiteOpaqueTensorDim(th, 0)),
           static_cast<int>(TfLiteOpaqueTensorDim(th, 1)));
    return false;
  }
  if (!CheckConstant(ctx, od, th, what)) return false;
  const size_t n = 3 * static_cast<size_t>(channels);
  if (TfLiteOpaqueTensorByteSize(th) != n * sizeof(float) || !dst->Resize(n)) {
    Report(ctx, od, "%s has a wrong byte size or could not be copied", what);
    return false;
  }
  std::memcpy(dst->data(), TfLiteOpaqueTensorData(th), n * sizeof(float));
  const core::Status st = core::ValidateThresholds(dst->data(), channels);
  if (!st.ok()) {
    Report(ctx, od, "%s: %s", what, st.message());
    return false;
  }
  return true;
}

bool LoadWeights(TfLiteOpaqueContext* ctx, OpData* od,
                 const TfLiteOpaqueTensor* t, int64_t n) {
  const char* what = "input 1 (`weights`)";
  if (!CheckTensor(ctx, od, t, what, kTfLiteUInt8, -1)) return false;
  if (!CheckConstant(ctx, od, t, what)) return false;
  const bool base3 = od->weight_encoding == core::WeightEncoding::kBase3;
  const int64_t expected = core::WeightBytes(od->weight_encoding, n);
  const int64_t elements = NumElements(t);
  if (elements != expected ||
      TfLiteOpaqueTensorByteSize(t) != static_cast<size_t>(expected)) {
    Report(ctx, od,
           "%s holds %" PRId64 " bytes, expected ceil(%" PRId64
           " / %d) = %" PRId64 " for the options' shape (weight_encoding %s)",
           what, elements, n, base3 ? 5 : 4, expected,
           base3 ? "base3" : "trit2");
    return false;
  }
  if (!od->w_trits.Resize(static_cast<size_t>(n))) {
    Report(ctx, od, "out of memory unpacking %s", what);
    return false;
  }
  const core::Status st = core::UnpackWeights(
      od->weight_encoding,
      static_cast<const uint8_t*>(TfLiteOpaqueTensorData(t)),
      static_cast<size_t>(expected), n, od->w_trits.data());
  if (!st.ok()) {
    Report(ctx, od, "%s: %s", what, st.message());
    return false;
  }
  return true;
}

bool ResizeOutput(TfLiteOpaqueContext* ctx, const OpData* od,
                  TfLiteOpaqueTensor* out, const int* dims, int rank) {
  TfLiteIntArray* shape = TfLiteIntArrayCreate(rank);
  if (shape == nullptr) {
    Report(ctx, od, "out of memory resizing the output");
    return false;
  }
  for (int i = 0; i < rank; ++i) shape->data[i] = dims[i];
  if (TfLiteOpaqueContextResizeTensor(ctx, out, shape) != kTfLiteOk) {
    Report(ctx, od, "could not resize the output");
    return false;
  }
  return true;
}

bool CheckCounts(TfLiteOpaqueContext* ctx, const OpData* od,
                 TfLiteOpaqueNode* node, int inputs) {
  const int n_in = TfLiteOpaqueNodeNumberOfInputs(node);
  const int n_out = TfLiteOpaqueNodeNumberOfOutputs(node);
  if (n_in != inputs || n_out != 1) {
    Report(ctx, od, "expected %d inputs and 1 output, received %d and %d",
           inputs, n_in, n_out);
    return false;
  }
  return true;
}

bool CheckActivationInput(TfLiteOpaqueContext* ctx, const OpData* od,
                          const TfLiteOpaqueTensor* x, bool float_in,
                          int channels, int rank, int min_rank) {
  const char* what = "input 0 (`x`)";
  if (!CheckTensor(ctx, od, x, what, float_in ? kTfLiteFloat32 : kTfLiteInt32,
                   rank)) {
    return false;
  }
  const int r = TfLiteOpaqueTensorNumDims(x);
  if (r < min_rank) {
    Report(ctx, od, "%s must have rank >= %d, received rank %d", what, min_rank,
           r);
    return false;
  }
  const int last = TfLiteOpaqueTensorDim(x, r - 1);
  if (float_in) {
    if (last != channels) {
      Report(ctx, od,
             "%s has %d channels, but the options say in_channels = %d", what,
             last, channels);
      return false;
    }
  } else if (last != core::PackedWidth(channels)) {
    Report(ctx, od,
           "%s is packed %d int32 words wide, but in_channels = %d needs "
           "2 * ceil(%d / 32) = %d",
           what, last, channels, channels, core::PackedWidth(channels));
    return false;
  }
  if (NumElements(x) <= 0) {
    Report(ctx, od, "%s is empty or has unknown dimensions", what);
    return false;
  }
  return true;
}

}  // namespace internal
}  // namespace tflite
}  // namespace sttn
