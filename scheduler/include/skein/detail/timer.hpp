// Runtime timers: callbacks fired by the scheduler at a steady-clock deadline.
//
// Internal building block for sleep_for, and for the channel-based timers,
// tickers and deadlines built on top of it. A TimerNode lives in the memory of
// whoever armed it (often a parked goroutine's stack); while armed it sits in
// one P's timer heap. `fire` runs on a scheduler thread (g0), outside any
// goroutine: it must not block or park, only make goroutines ready or send
// without blocking.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace skein::detail {

struct P;

struct TimerNode {
  std::int64_t when_ns = 0;  // steady_clock nanoseconds since epoch
  void (*fire)(TimerNode*) = nullptr;
  void* arg = nullptr;  // free for the owner's use
  // Written under the owning P's timer lock; read racily by del_timer, which
  // re-checks it under that lock.
  std::atomic<P*> owner{nullptr};  // nullptr when not armed
  std::int32_t heap_index = -1;    // guarded by the owner's timer lock
};

// Arms t (fire and when_ns set) on the current P's heap; from a non-goroutine
// thread, on some P. t must not be armed already.
void add_timer(TimerNode* t);
// Disarms t; returns true if it was armed (so it will not fire). Any thread,
// including from inside another timer's fire callback.
bool del_timer(TimerNode* t);

inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace skein::detail
