// Sema: a counting semaphore that parks goroutines (Go's runtime semaphore).
//
// acquire() takes a token or parks until release() hands it one directly; a
// token released while someone waits goes to the longest waiter (FIFO), so a
// woken waiter never has to race for it. Beneath Mutex, WaitGroup and Once.
#pragma once

#include <atomic>
#include <cstdint>

#include "skein/detail/park.hpp"

namespace skein::detail {

class Sema {
 public:
  explicit Sema(std::uint32_t initial = 0) : count_(initial) {}
  // Parks the calling goroutine until a token is available.
  void acquire(WaitReason reason);
  // Adds a token, or hands it to the first waiter. Any thread.
  void release();
  // Hands a token to every waiter and returns how many there were.
  int release_all();

 private:
  bool try_acquire() noexcept;  // requires lock_

  std::atomic<std::uint32_t> count_;  // written under lock_
  SpinLock lock_;
  WaitList waiters_;  // guarded by lock_
};

}  // namespace skein::detail
