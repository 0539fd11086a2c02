#include "timer_heap.hpp"

namespace skein::detail {

namespace {
constexpr std::size_t kArity = 4;  // shallower than binary: fewer cache misses per sift
}

void TimerHeap::push(TimerNode* t) {
  heap_.push_back(t);
  place(heap_.size() - 1, t);
  sift_up(heap_.size() - 1);
  publish();
}

void TimerHeap::remove(TimerNode* t) {
  std::size_t i = static_cast<std::size_t>(t->heap_index);
  TimerNode* last = heap_.back();
  heap_.pop_back();
  t->heap_index = -1;
  if (i < heap_.size()) {
    place(i, last);
    sift_up(i);
    sift_down(static_cast<std::size_t>(last->heap_index));
  }
  publish();
}

void TimerHeap::sift_up(std::size_t i) {
  TimerNode* t = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / kArity;
    if (heap_[parent]->when_ns <= t->when_ns) {
      break;
    }
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void TimerHeap::sift_down(std::size_t i) {
  TimerNode* t = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t first = i * kArity + 1;
    if (first >= n) {
      break;
    }
    std::size_t best = first;
    for (std::size_t c = first + 1; c < first + kArity && c < n; ++c) {
      if (heap_[c]->when_ns < heap_[best]->when_ns) {
        best = c;
      }
    }
    if (heap_[best]->when_ns >= t->when_ns) {
      break;
    }
    place(i, heap_[best]);
    i = best;
  }
  place(i, t);
}

}  // namespace skein::detail
