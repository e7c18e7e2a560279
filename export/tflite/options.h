// Init's half of the validation: reads an op's FlexBuffer custom options
// (docs/op-format.md) into its OpData. A failure does not stop Init; it is
// kept in OpData::options_error and reported by Prepare. A new option, or a
// new op's set of accepted keys, goes in options.cc.
#ifndef STTN_EXPORT_TFLITE_OPTIONS_H_
#define STTN_EXPORT_TFLITE_OPTIONS_H_

#include <cstddef>

#include "export/tflite/op_data.h"

namespace sttn {
namespace tflite {
namespace internal {

// Parses `buffer` for op od->kind; sets od->options_ok, or options_error.
void ParseOptions(OpData* od, const char* buffer, size_t length);

}  // namespace internal
}  // namespace tflite
}  // namespace sttn

#endif  // STTN_EXPORT_TFLITE_OPTIONS_H_
