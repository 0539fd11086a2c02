// TimerHeap: one P's armed timers, a 4-ary min-heap on deadline.
//
// Guarded by `mu` (a spin lock: every operation is a few dozen instructions).
// `earliest` mirrors the top deadline (INT64_MAX when empty) as an atomic, so
// the scheduler can ask "anything due?" without taking the lock, and an idle
// M can compute how long it may sleep.
// Invariant: for every armed TimerNode t in heap_, t->owner == this heap's P and
// heap_[t->heap_index] == t.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <vector>

#include "skein/detail/park.hpp"
#include "skein/detail/timer.hpp"

namespace skein::detail {

class TimerHeap {
 public:
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

  SpinLock mu;

  void push(TimerNode* t);    // requires mu
  void remove(TimerNode* t);  // requires mu; t must be in this heap
  TimerNode* top() const { return heap_.empty() ? nullptr : heap_.front(); }  // requires mu
  std::size_t size() const { return heap_.size(); }                           // requires mu
  std::int64_t earliest() const { return earliest_.load(std::memory_order_acquire); }
  std::int64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  void sift_up(std::size_t i);
  void sift_down(std::size_t i);
  void place(std::size_t i, TimerNode* t) {
    heap_[i] = t;
    t->heap_index = static_cast<std::int32_t>(i);
  }
  void publish() {
    earliest_.store(heap_.empty() ? kNever : heap_.front()->when_ns, std::memory_order_release);
    count_.store(static_cast<std::int64_t>(heap_.size()), std::memory_order_relaxed);
  }

  std::vector<TimerNode*> heap_;  // guarded by mu
  std::atomic<std::int64_t> earliest_{kNever};
  std::atomic<std::int64_t> count_{0};
};

}  // namespace skein::detail
