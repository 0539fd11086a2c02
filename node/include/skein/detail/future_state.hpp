// The shared state behind skein::Future<T>: one task's outcome, filled once.
//
// Written once by the owner table (from whatever thread delivers the task's
// completion or its deadline) and read by any number of goroutines. Waiting
// goes through the scheduler's own primitives: a skein::WaitGroup counted at 1
// parks get() (goroutines) or blocks the thread (elsewhere), and a channel
// that is closed on completion lets a future appear in skein::select.
//
// Invariants: complete() succeeds at most once; outcome_ is written before
// ready_ is set (release) and never changed after, so any reader that sees
// ready() (acquire) may read outcome() without a lock; done_ is closed and
// wg_ released only after ready_ is set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include "skein/chan.hpp"
#include "skein/detail/task.hpp"
#include "skein/waitgroup.hpp"

namespace skein::detail {

class FutureState {
 public:
  FutureState(std::uint64_t task_id, std::string function);
  FutureState(const FutureState&) = delete;
  FutureState& operator=(const FutureState&) = delete;

  std::uint64_t task_id() const noexcept { return task_id_; }
  const std::string& function() const noexcept { return function_; }

  // Stores the outcome and wakes every waiter. Returns false (and changes
  // nothing) if the state was already completed. Any thread, including timer
  // callbacks on a scheduler thread: it never parks.
  bool complete(std::uint32_t attempt, TaskOutcome outcome);

  bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }
  // Parks the calling goroutine (blocks a non-goroutine thread) until ready.
  void wait() const;
  // Waits at most d; true if ready. Goroutines only (it selects on a timer).
  bool wait_for(std::chrono::steady_clock::duration d) const;

  // Requires ready().
  const TaskOutcome& outcome() const noexcept { return outcome_; }
  std::uint32_t attempt() const noexcept { return attempt_; }
  // Throws the RemoteError the outcome describes; requires ready() and a
  // failed outcome.
  [[noreturn]] void throw_error() const;

  const Chan<std::monostate>& done() const noexcept { return done_; }

 private:
  const std::uint64_t task_id_;
  const std::string function_;
  std::atomic<bool> claimed_{false};  // the one complete() that may write
  std::atomic<bool> ready_{false};
  std::uint32_t attempt_ = 0;  // written once, before ready_
  TaskOutcome outcome_;        // written once, before ready_
  mutable WaitGroup wg_;       // 1 until complete()
  Chan<std::monostate> done_{0};
};

}  // namespace skein::detail
