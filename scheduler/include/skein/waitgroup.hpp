// WaitGroup: waits for a collection of goroutines to finish, as Go's
// sync.WaitGroup.
//
//   skein::WaitGroup wg;
//   for (int i = 0; i < n; ++i) {
//     wg.add(1);
//     skein::go([&] { work(); wg.done(); });
//   }
//   wg.wait();  // parks this goroutine, never the thread
//
// Rules (Go's): add with a positive delta must happen before wait is called
// while the counter is zero; a counter that goes negative is a fatal error; the
// group may be reused once every wait of the previous round has returned.
// Memory ordering: everything a goroutine did before done() is visible to the
// goroutines that return from the wait() that done() released.
#pragma once

#include <atomic>
#include <cstdint>

#include "skein/detail/park.hpp"

namespace skein {

class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(std::int64_t delta = 1);
  void done() { add(-1); }
  // Parks the calling goroutine until the counter is zero. From a thread that
  // is not a goroutine it blocks that thread instead.
  void wait();
  std::int64_t count() const { return count_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::int64_t> count_{0};
  detail::SpinLock lock_;
  detail::WaitList waiters_;  // guarded by lock_
};

}  // namespace skein
