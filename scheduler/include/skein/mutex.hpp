// Mutex: mutual exclusion that parks the goroutine, not the OS thread.
//
// Satisfies Lockable, so std::lock_guard / std::unique_lock work:
//   skein::Mutex mu;
//   { std::lock_guard lock(mu); ++counter; }
//
// Uncontended lock/unlock is one compare-and-swap each, no syscall. Under
// contention a locker spins briefly (the holder is likely running on another
// P), then parks on a semaphore; unlock wakes one waiter, which competes again
// (Go's "normal mode"; barging keeps throughput high; the waiter queue is FIFO).
//
// What blocks what (Go's HACKING.md table):
//   | primitive              | blocks G | blocks M | blocks P |
//   | skein::Mutex           |   yes    |    no    |    no    |
//   | skein::WaitGroup::wait |   yes    |    no    |    no    |
//   | skein::sleep_for       |   yes    |    no    |    no    |
//   | std::mutex             |   yes    |   yes    |   yes    |
//   | skein::blocking(fn)    |   yes    |   yes    |    no    |
// So prefer skein::Mutex inside goroutines; std::mutex held across a park is a bug.
#pragma once

#include <atomic>
#include <cstdint>

#include "skein/detail/sema.hpp"

namespace skein {

class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_weak(expected, kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return;
    }
    lock_slow();
  }
  bool try_lock() {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    return (s & kLocked) == 0 &&
           state_.compare_exchange_strong(s, s | kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock() {
    std::uint32_t s = state_.fetch_sub(kLocked, std::memory_order_release) - kLocked;
    if (s != 0) {
      unlock_slow(s);
    }
  }

 private:
  // state_: bit 0 = locked; bits 1.. = number of goroutines parked (or about
  // to park) on sema_. Invariant: waiters only decrease in unlock_slow, by the
  // one unlocker that then releases a token.
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kWaiterShift = 1;
  static constexpr std::uint32_t kWaiter = 1u << kWaiterShift;

  void lock_slow();
  void unlock_slow(std::uint32_t state);

  std::atomic<std::uint32_t> state_{0};
  detail::Sema sema_;
};

// Once: runs a function exactly once, as Go's sync.Once. Callers that arrive
// while it runs park until it has finished; all see its effects.
class Once {
 public:
  template <class F>
  void call(F&& fn) {
    if (done_.load(std::memory_order_acquire)) {
      return;
    }
    mu_.lock();
    if (!done_.load(std::memory_order_relaxed)) {
      struct Unlock {
        Mutex& mu;
        ~Unlock() { mu.unlock(); }
      } unlock{mu_};
      fn();
      done_.store(true, std::memory_order_release);
      return;
    }
    mu_.unlock();
  }

 private:
  std::atomic<bool> done_{false};
  Mutex mu_;
};

}  // namespace skein
