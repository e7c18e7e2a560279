// JNI side of org.sttnkeras.demo.TfLiteDoubleProbe (android_demo/jvmtest):
// lets the JVM test read what the TEST DOUBLE of the TFLite C API recorded.
// Part of the test double library only; never built into the app.
#include <jni.h>

#include <string>
#include <vector>

#include "android_demo/test_double/tflite_double.h"

extern "C" {

JNIEXPORT jint JNICALL
Java_org_sttnkeras_demo_TfLiteDoubleProbe_lastNumThreads(JNIEnv*, jclass) {
  return sttn::android_double::LastNumThreads();
}

JNIEXPORT jint JNICALL
Java_org_sttnkeras_demo_TfLiteDoubleProbe_liveObjects(JNIEnv*, jclass) {
  return sttn::android_double::LiveObjects();
}

JNIEXPORT jstring JNICALL
Java_org_sttnkeras_demo_TfLiteDoubleProbe_registrationProblems(JNIEnv* env,
                                                               jclass) {
  return env->NewStringUTF(
      sttn::android_double::RegistrationProblems().c_str());
}

JNIEXPORT jobjectArray JNICALL
Java_org_sttnkeras_demo_TfLiteDoubleProbe_lastRegisteredOps(JNIEnv* env,
                                                            jclass) {
  const std::vector<std::string> names =
      sttn::android_double::LastRegisteredOps();
  jclass string_class = env->FindClass("java/lang/String");
  if (string_class == nullptr) return nullptr;
  jobjectArray out = env->NewObjectArray(static_cast<jsize>(names.size()),
                                         string_class, nullptr);
  for (size_t i = 0; out != nullptr && i < names.size(); ++i) {
    jstring s = env->NewStringUTF(names[i].c_str());
    if (s == nullptr) return nullptr;
    env->SetObjectArrayElement(out, static_cast<jsize>(i), s);
    env->DeleteLocalRef(s);
  }
  return out;
}

}  // extern "C"
