// TFLite-free status type for the sttn core: pure functions report failures
// with a message instead of aborting, so the glue can forward them through the
// interpreter's error reporter.
#ifndef STTN_EXPORT_CORE_STATUS_H_
#define STTN_EXPORT_CORE_STATUS_H_

#include <cstdarg>
#include <cstdio>

namespace sttn {
namespace core {

class Status {
 public:
  static Status Ok() { return Status(); }

  // printf-style constructor for an error status.
  static Status Error(const char* format, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 1, 2)))
#endif
  {
    Status s;
    s.ok_ = false;
    va_list args;
    va_start(args, format);
    std::vsnprintf(s.message_, sizeof(s.message_), format, args);
    va_end(args);
    return s;
  }

  bool ok() const { return ok_; }
  const char* message() const { return ok_ ? "" : message_; }

 private:
  Status() : ok_(true) { message_[0] = '\0'; }
  bool ok_;
  char message_[256];
};

}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_STATUS_H_
