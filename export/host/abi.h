// Our declarations of the *classic* TFLite structs as laid out by the runtime
// inside ai-edge-litert 1.1.1 ... 2.3.x (the supported range, defined in
// export/runtime_versions.py; the TFLite those wheels ship, LP64
// Linux, libstdc++) and TensorFlow 2.21's tf.lite: TfLiteIntArray,
// TfLiteTensor, TfLiteNode, TfLiteContext, TfLiteRegistration, and the parts
// of tflite::OpResolver / tflite::MutableOpResolver the host layer touches.
// Every release of that range runs with this one layout: each passes the
// probes and the spot checks of tests/test_litert_versions.py. Learnt from the
// public TFLite/LiteRT headers of that era (tflite/core/c/common.h,
// tflite/core/api/op_resolver.h, tflite/mutable_op_resolver.h); only the layout
// is reproduced here, as our own code. Checked by static_asserts below and at
// run time (see host_registration.cc).
#ifndef STTN_EXPORT_HOST_ABI_H_
#define STTN_EXPORT_HOST_ABI_H_

#include <cstddef>
#include <cstdint>

#include "export/tflite/c_api_subset.h"

namespace sttn {
namespace host {
namespace abi {

struct Context;
struct Node;

// TfLiteQuantizationParams.
struct QuantizationParams {
  float scale;
  int32_t zero_point;
};

// TfLiteQuantization.
struct Quantization {
  int type;
  void* params;
};

// TfLiteTensor (non TF_LITE_STATIC_MEMORY build).
struct Tensor {
  int type;    // TfLiteType
  void* data;  // TfLitePtrUnion
  TfLiteIntArray* dims;
  QuantizationParams params;
  int allocation_type;  // TfLiteAllocationType
  size_t bytes;
  const void* allocation;
  const char* name;
  void* delegate;
  int buffer_handle;
  bool data_is_stale;
  bool is_variable;
  Quantization quantization;
  void* sparsity;
  const TfLiteIntArray* dims_signature;
};

// TfLiteNode.
struct Node {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
  void* delegate;
  bool might_have_side_effect;
};

// TfLiteContext (non-Windows).
struct Context {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(Context*, TfLiteIntArray**);
  Tensor* tensors;
  void* impl_;
  TfLiteStatus (*ResizeTensor)(Context*, Tensor*, TfLiteIntArray*);
  void (*ReportError)(Context*, const char* format, ...);
  TfLiteStatus (*AddTensors)(Context*, int, int*);
  TfLiteStatus (*GetNodeAndRegistration)(Context*, int, Node**, void**);
  void* ReplaceNodeSubsetsWithDelegateKernels;
  int recommended_num_threads;
  void* GetExternalContext;
  void* SetExternalContext;
  bool allow_fp32_relax_to_fp16;
  void* profiler;
  void* (*AllocatePersistentBuffer)(Context*, size_t);
  void* AllocateBufferForEval;
  void* RequestScratchBufferInArena;
  void* GetScratchBuffer;
  void* ResizeTensorExplicit;
  void* PreviewDelegatePartitioning;
  Tensor* (*GetTensor)(const Context*, int);
  void* GetEvalTensor;
  void* GetModelMetadata;
  void* AcquireSubgraphContext;
  void* ReleaseSubgraphContext;
};

// TfLiteRegistration (with the `registration_external`, `async_kernel` and
// `inplace_operator` fields of TFLite >= 2.14).
struct Registration {
  void* (*init)(Context*, const char*, size_t);
  void (*free)(Context*, void*);
  TfLiteStatus (*prepare)(Context*, Node*);
  TfLiteStatus (*invoke)(Context*, Node*);
  const char* (*profiling_string)(const Context*, const Node*);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;  // TfLiteOperator*; null: use the fields above
  void* async_kernel;
  uint64_t inplace_operator;
};

// What we hand to the runtime: a Registration followed by zeroed spare bytes,
// so a runtime whose struct grew at the end reads zeros (= defaults), never
// our neighbours.
struct PaddedRegistration {
  Registration reg;
  unsigned char spare[128];
};

#if defined(__LP64__) && !defined(_WIN32)
static_assert(sizeof(Tensor) == 112, "TfLiteTensor layout (LP64)");
static_assert(offsetof(Tensor, allocation_type) == 32, "TfLiteTensor layout");
static_assert(offsetof(Tensor, bytes) == 40, "TfLiteTensor layout");
static_assert(sizeof(Node) == 80, "TfLiteNode layout (LP64)");
static_assert(offsetof(Node, user_data) == 32, "TfLiteNode layout");
static_assert(offsetof(Context, tensors) == 16, "TfLiteContext layout");
static_assert(offsetof(Context, ResizeTensor) == 32, "TfLiteContext layout");
static_assert(offsetof(Context, ReportError) == 40, "TfLiteContext layout");
static_assert(offsetof(Context, GetTensor) == 160, "TfLiteContext layout");
static_assert(sizeof(Registration) == 88, "TfLiteRegistration layout (LP64)");
static_assert(offsetof(Registration, builtin_code) == 40,
              "TfLiteRegistration layout");
static_assert(offsetof(Registration, registration_external) == 64,
              "TfLiteRegistration layout");
#endif

// tflite::MutableOpResolver (libstdc++ build), byte offsets of the members
// the host layer reads or writes:
//   0   vptr (tflite::OpResolver)
//   8   std::shared_ptr<OperatorsCache> registration_externals_cache_ (16)
//   24  bool may_directly_contain_user_defined_ops_ (+7 padding)
//   32  std::vector<std::function<...>> delegate_creators_ (24)
//   56  std::vector<std::function<...>> opaque_delegate_creators_ (24)
//   80  std::unordered_map<...> builtins_ (56)
//   136 std::unordered_map<...> custom_ops_ (56)
//   192 std::vector<const OpResolver*> other_op_resolvers_ (24)
constexpr size_t kMutableResolverFlagOffset = 24;
constexpr size_t kMutableResolverDelegateCreatorsOffset = 32;
constexpr size_t kMutableResolverOpaqueDelegateCreatorsOffset = 56;
constexpr size_t kMutableResolverBuiltinsOffset = 80;
constexpr size_t kMutableResolverCustomOpsOffset = 136;
constexpr size_t kMutableResolverChainOffset = 192;
constexpr size_t kStdFunctionSize = 32;            // libstdc++ std::function
constexpr size_t kHashtableLoadFactorOffset = 32;  // _M_rehash_policy
constexpr size_t kHashtableSingleBucketOffset = 48;

// Virtual slots of tflite::OpResolver (Itanium ABI, declaration order):
//   0 FindOp(BuiltinOperator, int)   1 FindOp(const char*, int)
//   2 GetDelegates(int)              3 GetDelegateCreators()
//   4 GetOpaqueDelegateCreators()    5/6 ~OpResolver (complete / deleting)
//   7 MayContainUserDefinedOps()
constexpr int kFindCustomOpSlot = 1;

}  // namespace abi
}  // namespace host
}  // namespace sttn

#endif  // STTN_EXPORT_HOST_ABI_H_
