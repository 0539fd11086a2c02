// FlightBudget: the owner's backpressure (issue 5: "a job spawning faster than
// the cluster can run does not grow memory without bound"). It bounds the
// tasks this process has sent and not yet heard back from, both in number
// (max_count) and in argument bytes (max_bytes, since one task may carry up to
// 3 MiB).
//
//   acquire(bytes)  takes room for one task; parks the calling goroutine (a
//                   plain thread blocks) while there is none. False once the
//                   budget is closed.
//   release(bytes, n) gives the room back and hands it, in FIFO order, to the
//                   waiters that now fit. Any thread; never blocks.
//   close()         wakes every waiter with false; every later acquire fails
//                   at once. For an owner whose link to the agent is gone.
//
// Room exists when count < max_count and either nothing is in flight or the
// bytes fit: a task larger than max_bytes still goes, alone. Waiters are
// served strictly in order, so a large task is not overtaken forever by small
// ones; a newcomer waits behind any waiter even if it would fit.
//
// Blocking goes through the scheduler's park/ready pair with the waiter on the
// parked goroutine's stack (as Sema does), so waiting never allocates.
#pragma once

#include <cstdint>

#include "skein/detail/park.hpp"

namespace skein::node {

class FlightBudget {
 public:
  FlightBudget(std::uint64_t max_count, std::uint64_t max_bytes)
      : max_count_(max_count), max_bytes_(max_bytes) {}
  FlightBudget(const FlightBudget&) = delete;
  FlightBudget& operator=(const FlightBudget&) = delete;

  // Goroutines (parks) or plain threads (blocks); never the agent link's
  // reader. Returns false, without room, if the budget is or gets closed.
  bool acquire(std::uint64_t bytes);
  // Any thread. Gives back `count` tasks' room; bytes must be the sum the
  // matching acquires took.
  void release(std::uint64_t bytes, std::uint64_t count = 1);
  void close();

  std::uint64_t in_flight() const;
  std::uint64_t bytes_in_flight() const;
  // Acquires that had to wait (counted when they start waiting).
  std::uint64_t waits() const;

 private:
  bool fits(std::uint64_t bytes) const {  // requires lock_
    return count_ < max_count_ && (count_ == 0 || bytes_ + bytes <= max_bytes_);
  }

  const std::uint64_t max_count_;
  const std::uint64_t max_bytes_;
  mutable detail::SpinLock lock_;
  std::uint64_t count_ = 0;  // guarded by lock_
  std::uint64_t bytes_ = 0;  // guarded by lock_
  bool closed_ = false;      // guarded by lock_
  std::uint64_t waits_ = 0;  // guarded by lock_
  // Guarded by lock_. Each Waiter's elem points at the bytes it needs; its
  // success is set (true: room granted and counted; false: closed) before it
  // is unlinked and readied.
  detail::WaitList waiters_;
};

}  // namespace skein::node
