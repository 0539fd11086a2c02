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

#include "skein/detail/sema.hpp"

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
  std::int64_t count() const {
    return static_cast<std::int32_t>(state_.load(std::memory_order_acquire) >> 32);
  }

 private:
  // state_: high 32 bits the counter (signed), low 32 bits the number of
  // waiters (Go's layout). One word, so that the done() that drops the
  // counter to zero learns in the same atomic step whether anyone waits: if
  // nobody does, it touches nothing more. A WaitGroup on a stack is commonly
  // destroyed the moment wait() returns, and wait() may return as soon as the
  // counter is zero.
  // Invariant: waiters are only added while the counter is positive, and only
  // the done() that drops the counter to zero resets the waiter count (to 0)
  // and then releases exactly that many tokens on sema_.
  std::atomic<std::uint64_t> state_{0};
  detail::Sema sema_;
};

}  // namespace skein
