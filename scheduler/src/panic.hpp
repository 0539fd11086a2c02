// Fatal errors and panics: the paths that print and exit.
//
// Go's model: a broken runtime invariant is "fatal error: ..."; an exception
// escaping a goroutine is "panic: ...", reported with the goroutine id and its
// spawn site, then the process exits with status 2. Both write with plain
// write(2)-style stdio on stderr: they must work from a signal handler's
// alternate stack (stack overflow) and with the scheduler in any state.
#pragma once

#include <exception>

namespace skein::detail {

struct G;

// Prints "fatal error: <message>" and the current goroutine, exits 2.
[[noreturn]] [[gnu::format(printf, 1, 2)]] void fatal(const char* fmt, ...);

// An exception escaped goroutine g.
[[noreturn]] void report_panic(const G* g, std::exception_ptr e);

// g hit its guard page or overwrote its canary. Async-signal-safe.
[[noreturn]] void report_stack_overflow(const G* g);

#define SKEIN_CHECK(cond)                                                             \
  do {                                                                                \
    if (!(cond)) [[unlikely]] {                                                       \
      ::skein::detail::fatal("check failed: %s at %s:%d", #cond, __FILE__, __LINE__); \
    }                                                                                 \
  } while (0)

#ifndef NDEBUG
#define SKEIN_DCHECK(cond) SKEIN_CHECK(cond)
#else
#define SKEIN_DCHECK(cond) \
  do {                     \
  } while (0)
#endif

}  // namespace skein::detail
