// WaitGroup and Mutex slow paths.
#include <thread>

#include "panic.hpp"
#include "skein/mutex.hpp"
#include "skein/waitgroup.hpp"

namespace skein {

// ---- WaitGroup -------------------------------------------------------------

void WaitGroup::add(std::int64_t delta) {
  const std::uint64_t s =
      state_.fetch_add(static_cast<std::uint64_t>(delta) << 32, std::memory_order_acq_rel) +
      (static_cast<std::uint64_t>(delta) << 32);
  const auto counter = static_cast<std::int32_t>(s >> 32);
  const auto waiters = static_cast<std::uint32_t>(s);
  if (counter < 0) [[unlikely]] {
    detail::fatal("sync: negative WaitGroup counter");
  }
  if (counter > 0 || waiters == 0) {
    return;  // nothing to release: do not touch *this again
  }
  if (delta > 0) [[unlikely]] {
    detail::fatal("sync: WaitGroup misuse: add called concurrently with wait");
  }
  // The counter is zero and there are waiters: they are parked (or about to
  // park) on sema_ and cannot return before we release them, so *this stays
  // alive until the last release below.
  state_.store(0, std::memory_order_release);
  for (std::uint32_t i = 0; i < waiters; ++i) {
    sema_.release();
  }
}

void WaitGroup::wait() {
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((s >> 32) == 0) {
      return;
    }
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
      sema_.acquire(detail::WaitReason::kWaitGroup);
      return;
    }
  }
}

// ---- Mutex -----------------------------------------------------------------

namespace {
// Spins before parking: the holder is likely running on another P and about
// to unlock; parking costs two context switches. Measured with
// bench/sched/micro_bench.cpp (BM_MutexContended).
constexpr int kSpinIterations = 64;
}  // namespace

void Mutex::lock_slow() {
  for (int spin = 0;; ++spin) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if ((s & kLocked) == 0) {
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
      continue;
    }
    if (spin < kSpinIterations) {
      __builtin_ia32_pause();
      continue;
    }
    // Register as a waiter, then park; unlock() releases one token per waiter
    // it takes off the count, and the woken waiter competes again.
    if (state_.compare_exchange_weak(s, s + kWaiter, std::memory_order_relaxed)) {
      sema_.acquire(detail::WaitReason::kMutex);
      spin = 0;
    }
  }
}

void Mutex::unlock_slow(std::uint32_t s) {
  if (((s + kLocked) & kLocked) == 0) [[unlikely]] {
    detail::fatal("sync: unlock of unlocked mutex");
  }
  for (;;) {
    // Nobody to wake, or a new holder barged in: that holder's unlock wakes.
    if ((s >> kWaiterShift) == 0 || (s & kLocked) != 0) {
      return;
    }
    if (state_.compare_exchange_weak(s, s - kWaiter, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      sema_.release();
      return;
    }
  }
}

}  // namespace skein
