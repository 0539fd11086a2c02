// blocking(fn): run a call that blocks the OS thread (a blocking syscall, a
// library without async I/O) from a goroutine without stalling the others.
//
//   std::string data = skein::blocking([&] { return read_whole_file(path); });
//
// While fn runs, its M keeps its P only provisionally: if fn is still running
// after one sysmon round (20 us .. 10 ms), the P is handed to another M and the
// other goroutines go on. When fn returns, the goroutine continues on whatever
// P is free (possibly after waiting for one). fn's result or exception is
// passed through. Outside a goroutine, blocking(fn) just calls fn.
// Prefer parking primitives (channels, skein::net) where they exist: each
// blocking call that outlives a round costs a thread hand-off.
#pragma once

#include <type_traits>
#include <utility>

namespace skein {

namespace detail {
void enter_blocking();
void exit_blocking();
}  // namespace detail

template <class F>
std::invoke_result_t<F&> blocking(F&& fn) {
  detail::enter_blocking();
  struct Exit {
    ~Exit() { detail::exit_blocking(); }
  } exit;
  return fn();
}

}  // namespace skein
