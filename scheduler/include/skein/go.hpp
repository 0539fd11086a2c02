// Goroutines: go(fn) starts fn as a new goroutine, yield() lets others run.
//
// A goroutine (G) is a stackful coroutine multiplexed onto the runtime's OS
// threads (M) through its processors (P): the G/M/P model of Go's runtime,
// described in docs/scheduler.md. A new goroutine goes to the spawning P's
// `runnext` slot so it runs soon, on a warm cache; idle Ps steal from busy ones.
//
//   skein::go([&, shard] { process(shard); wg.done(); });
//
// The callable (with everything it captured) is moved into the goroutine's own
// stack memory: a spawn on a warm P allocates nothing. Its spawn site is
// recorded for panics and the goroutine dump. An exception escaping it is a
// panic (message, goroutine id, spawn site, exit code 2), as in Go.
//
// go() may be called from a goroutine or from any thread while a runtime is
// running (Runtime::run / skein::run); otherwise it is a fatal error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <source_location>
#include <type_traits>
#include <utility>

namespace skein {

namespace detail {
struct G;
// Allocates a G whose closure storage has `size` bytes at `align`; returns the
// G and writes the storage address to *closure. The G is not runnable yet.
G* new_g(std::size_t size, std::size_t align, void (*invoke)(void*), void** closure,
         const std::source_location& site);
// Makes a G from new_g runnable.
void start_g(G* g);

template <class F>
void invoke_closure(void* p) {
  F* f = static_cast<F*>(p);
  // Destroy the closure even if it throws: the panic path reports and exits,
  // but unwinding must not leave a half-dead capture behind in tests.
  struct Destroy {
    F* f;
    ~Destroy() { f->~F(); }
  } destroy{f};
  (*f)();
}
}  // namespace detail

template <class F>
requires std::is_invocable_v < std::decay_t<F>
& > void go(F&& fn, const std::source_location& site = std::source_location::current()) {
  using Fn = std::decay_t<F>;
  void* storage = nullptr;
  detail::G* g =
      detail::new_g(sizeof(Fn), alignof(Fn), &detail::invoke_closure<Fn>, &storage, site);
  ::new (storage) Fn(std::forward<F>(fn));
  detail::start_g(g);
}

// Lets other goroutines run; the caller goes to the back of the global queue
// (as Go's Gosched). From a non-goroutine thread it yields the thread.
void yield();

// The running goroutine's id (1 is the main goroutine), or 0 outside one.
std::uint64_t goroutine_id();

}  // namespace skein
