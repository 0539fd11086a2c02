// WaitGroup and Mutex slow paths.
#include <thread>

#include "panic.hpp"
#include "skein/mutex.hpp"
#include "skein/waitgroup.hpp"

namespace skein {

// ---- WaitGroup -------------------------------------------------------------

void WaitGroup::add(std::int64_t delta) {
  std::int64_t v = count_.fetch_add(delta, std::memory_order_acq_rel) + delta;
  if (v < 0) [[unlikely]] {
    detail::fatal("sync: negative WaitGroup counter");
  }
  if (v > 0 || delta > 0) {
    return;
  }
  // The counter reached zero: release every waiter. A waiter registers under
  // lock_ after re-checking the counter, so none can slip in unseen.
  lock_.lock();
  detail::WaitList woken = std::move(waiters_);
  waiters_ = detail::WaitList();
  lock_.unlock();
  while (detail::Waiter* w = woken.pop_front()) {
    detail::ready(w->g);
  }
}

void WaitGroup::wait() {
  if (count_.load(std::memory_order_acquire) == 0) {
    return;
  }
  detail::Waiter w;
  w.g = detail::current_g();
  lock_.lock();
  if (count_.load(std::memory_order_acquire) == 0) {
    lock_.unlock();
    return;
  }
  waiters_.push_back(&w);
  detail::park(&detail::SpinLock::unlock_fn, &lock_, detail::WaitReason::kWaitGroup);
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
