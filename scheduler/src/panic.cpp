#include "panic.hpp"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <typeinfo>

#include <cxxabi.h>

#include "current.hpp"
#include "g.hpp"

namespace skein::detail {

namespace {

constexpr int kPanicExitCode = 2;

// Formats into a fixed buffer and writes it with write(2): no allocation, so
// it is safe on a signal stack and when the heap may be corrupt.
void write_err(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) {
    ssize_t ignored = ::write(STDERR_FILENO, buf, std::min<std::size_t>(n, sizeof buf - 1));
    (void)ignored;
  }
}

void write_goroutine(const G* g) {
  if (g == nullptr) {
    return;
  }
  write_err("\ngoroutine %llu [running]:\ncreated at %s:%u in %s\n",
            static_cast<unsigned long long>(g->id), g->site.file_name(), g->site.line(),
            g->site.function_name());
}

[[noreturn]] void die() {
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(kPanicExitCode);
}

}  // namespace

void fatal(const char* fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fflush(stdout);
  write_err("fatal error: %s\n", msg);
  write_goroutine(current_running_g());
  die();
}

void report_panic(const G* g, std::exception_ptr e) {
  std::fflush(stdout);
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    int status = 0;
    char* type = abi::__cxa_demangle(typeid(ex).name(), nullptr, nullptr, &status);
    write_err("panic: %s: %s\n", status == 0 && type != nullptr ? type : typeid(ex).name(),
              ex.what());
    std::free(type);
  } catch (...) {
    std::type_info* t = abi::__cxa_current_exception_type();
    write_err("panic: exception of type %s\n", t != nullptr ? t->name() : "unknown");
  }
  write_goroutine(g);
  die();
}

void report_stack_overflow(const G* g) {
  write_err("fatal error: stack overflow in goroutine %llu (stack size %zu bytes)\n",
            static_cast<unsigned long long>(g->id), g->stack_size);
  write_goroutine(g);
  ::_exit(kPanicExitCode);
}

}  // namespace skein::detail
