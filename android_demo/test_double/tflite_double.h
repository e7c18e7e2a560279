// What the TEST DOUBLE of the TFLite C API (tflite_c_api_double.cc) records,
// for tests: the thread count the last interpreter was built with, the
// operators added to the last options, problems with those registrations, and
// the number of live models + options + interpreters (leak check).
#ifndef STTN_ANDROID_DEMO_TEST_DOUBLE_TFLITE_DOUBLE_H_
#define STTN_ANDROID_DEMO_TEST_DOUBLE_TFLITE_DOUBLE_H_

#include <string>
#include <vector>

namespace sttn {
namespace android_double {

int LastNumThreads();  // -2 when no interpreter was built yet.
std::vector<std::string> LastRegisteredOps();
std::string RegistrationProblems();  // Empty when every registration was valid.
int LiveObjects();

}  // namespace android_double
}  // namespace sttn

#endif  // STTN_ANDROID_DEMO_TEST_DOUBLE_TFLITE_DOUBLE_H_
