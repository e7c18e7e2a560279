// JNI layer of org.sttnkeras.demo.SttnInterpreter: a thin wrapper over
// sttn::android::Session (android_demo/native/common/session.h). Every
// failure becomes a Java exception carrying the message, including the
// runtime's own; nothing here aborts (no C++ exception crosses into the JVM).
//   org.sttnkeras.demo.SttnException     model, op, Prepare/Invoke errors
//   java.lang.IllegalArgumentException   wrong input/output sizes, bad args
#include <jni.h>

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "android_demo/native/common/session.h"
#include "export/tflite/sttn_ops.h"

namespace {

using sttn::android::Session;
using sttn::android::SessionOptions;

constexpr const char* kSttnException = "org/sttnkeras/demo/SttnException";
constexpr const char* kIllegalArgument = "java/lang/IllegalArgumentException";

void Throw(JNIEnv* env, const char* class_name, const std::string& message) {
  if (env->ExceptionCheck()) return;  // Keep the first exception.
  jclass cls = env->FindClass(class_name);
  if (cls == nullptr) return;  // FindClass has thrown NoClassDefFoundError.
  env->ThrowNew(cls, message.c_str());
  env->DeleteLocalRef(cls);
}

Session* FromHandle(JNIEnv* env, jlong handle) {
  if (handle == 0) {
    Throw(env, "java/lang/IllegalStateException", "the interpreter is closed");
    return nullptr;
  }
  return reinterpret_cast<Session*>(static_cast<intptr_t>(handle));
}

// Runs `body`, turning any C++ exception (out of memory) into a Java one.
template <typename F>
auto Guarded(JNIEnv* env, F body, decltype(body()) on_error)
    -> decltype(body()) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    Throw(env, "java/lang/OutOfMemoryError", "native allocation failed");
  } catch (...) {
    Throw(env, kSttnException, "unexpected native error");
  }
  return on_error;
}

}  // namespace

extern "C" {

JNIEXPORT jlong JNICALL Java_org_sttnkeras_demo_SttnInterpreter_nativeCreate(
    JNIEnv* env, jclass, jbyteArray model, jint num_threads, jint kernel_type) {
  return Guarded(
      env,
      [&]() -> jlong {
        if (model == nullptr) {
          Throw(env, kIllegalArgument, "model must not be null");
          return 0;
        }
        const jsize size = env->GetArrayLength(model);
        std::vector<jbyte> bytes(static_cast<size_t>(size));
        if (size > 0) env->GetByteArrayRegion(model, 0, size, bytes.data());
        SessionOptions options;
        options.num_threads = num_threads;
        options.kernel_type = kernel_type;
        std::string error;
        bool bad_argument = false;
        std::unique_ptr<Session> s = Session::Create(
            bytes.data(), bytes.size(), options, &error, &bad_argument);
        if (s == nullptr) {
          Throw(env, bad_argument ? kIllegalArgument : kSttnException, error);
          return 0;
        }
        return static_cast<jlong>(reinterpret_cast<intptr_t>(s.release()));
      },
      0);
}

JNIEXPORT void JNICALL Java_org_sttnkeras_demo_SttnInterpreter_nativeDelete(
    JNIEnv*, jclass, jlong handle) {
  delete reinterpret_cast<Session*>(static_cast<intptr_t>(handle));
}

JNIEXPORT jintArray JNICALL Java_org_sttnkeras_demo_SttnInterpreter_nativeShape(
    JNIEnv* env, jclass, jlong handle, jboolean input, jint index) {
  return Guarded(
      env,
      [&]() -> jintArray {
        Session* s = FromHandle(env, handle);
        if (s == nullptr) return nullptr;
        const int count = input ? s->num_inputs() : s->num_outputs();
        if (index < 0 || index >= count) {
          Throw(env, kIllegalArgument,
                std::string(input ? "input" : "output") +
                    " index out of range: the model has " +
                    std::to_string(count) + "; received " +
                    std::to_string(index));
          return nullptr;
        }
        const std::vector<int> dims =
            input ? s->InputShape(index) : s->OutputShape(index);
        jintArray out = env->NewIntArray(static_cast<jsize>(dims.size()));
        if (out == nullptr) return nullptr;
        std::vector<jint> values(dims.begin(), dims.end());
        env->SetIntArrayRegion(out, 0, static_cast<jsize>(values.size()),
                               values.data());
        return out;
      },
      nullptr);
}

JNIEXPORT void JNICALL Java_org_sttnkeras_demo_SttnInterpreter_nativeRun(
    JNIEnv* env, jclass, jlong handle, jfloatArray input, jfloatArray output) {
  Guarded(
      env,
      [&]() -> int {
        Session* s = FromHandle(env, handle);
        if (s == nullptr) return 0;
        if (input == nullptr || output == nullptr) {
          Throw(env, kIllegalArgument, "input and output must not be null");
          return 0;
        }
        if (s->num_inputs() != 1 || s->num_outputs() != 1) {
          Throw(env, kIllegalArgument,
                "run() takes models with one input and one output; the "
                "model has " +
                    std::to_string(s->num_inputs()) + " inputs and " +
                    std::to_string(s->num_outputs()) + " outputs");
          return 0;
        }
        std::string error;
        size_t in_count = 0, out_count = 0;
        if (!s->InputFloatCount(0, &in_count, &error) ||
            !s->OutputFloatCount(0, &out_count, &error)) {
          Throw(env, kIllegalArgument, error);
          return 0;
        }
        const size_t in_len = static_cast<size_t>(env->GetArrayLength(input));
        const size_t out_len = static_cast<size_t>(env->GetArrayLength(output));
        if (in_len != in_count) {
          Throw(env, kIllegalArgument,
                "input of shape " +
                    sttn::android::ShapeString(s->InputShape(0)) + " takes " +
                    std::to_string(in_count) + " float values; received " +
                    std::to_string(in_len));
          return 0;
        }
        if (out_len != out_count) {
          Throw(env, kIllegalArgument,
                "output of shape " +
                    sttn::android::ShapeString(s->OutputShape(0)) +
                    " needs an array of " + std::to_string(out_count) +
                    " floats; received one of " + std::to_string(out_len));
          return 0;
        }
        std::vector<float> in(in_count), out(out_count);
        env->GetFloatArrayRegion(input, 0, static_cast<jsize>(in_count),
                                 in.data());
        if (!s->SetInput(0, in.data(), in.size(), &error) ||
            !s->Invoke(&error) ||
            !s->GetOutput(0, out.data(), out.size(), &error)) {
          Throw(env, kSttnException, error);
          return 0;
        }
        env->SetFloatArrayRegion(output, 0, static_cast<jsize>(out_count),
                                 out.data());
        return 0;
      },
      0);
}

JNIEXPORT jobjectArray JNICALL
Java_org_sttnkeras_demo_SttnInterpreter_nativeRegisteredOps(JNIEnv* env, jclass,
                                                            jlong handle) {
  return Guarded(
      env,
      [&]() -> jobjectArray {
        Session* s = FromHandle(env, handle);
        if (s == nullptr) return nullptr;
        const std::vector<std::string>& names = s->registered_ops();
        jclass string_class = env->FindClass("java/lang/String");
        if (string_class == nullptr) return nullptr;
        jobjectArray out = env->NewObjectArray(static_cast<jsize>(names.size()),
                                               string_class, nullptr);
        for (size_t i = 0; out != nullptr && i < names.size(); ++i) {
          jstring name = env->NewStringUTF(names[i].c_str());
          if (name == nullptr) return nullptr;
          env->SetObjectArrayElement(out, static_cast<jsize>(i), name);
          env->DeleteLocalRef(name);
        }
        return out;
      },
      nullptr);
}

JNIEXPORT jint JNICALL
Java_org_sttnkeras_demo_SttnInterpreter_nativeOpFormatVersion(JNIEnv*, jclass) {
  return sttn_op_format_version();
}

}  // extern "C"
