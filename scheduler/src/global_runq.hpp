// GlobalRunQueue: the overflow queue shared by all Ps, a growable ring of G*.
//
// Guarded by Sched::mu_ (every method requires it). A ring of pointers rather
// than a list linked through the Gs: a G record sits at the top of its own
// stack, so a linked list costs a cache and TLB miss per hop, and a batch
// transfer (128 Gs when a local queue overflows) became the top of the
// profile in W1 (bench/RESULTS.md).
// Invariant: size_ <= buf_.size(); buf_.size() is zero or a power of two;
// the live entries are buf_[(head_ + i) & mask] for i < size_.
#pragma once

#include <cstdint>
#include <vector>

#include "g.hpp"

namespace skein::detail {

class GlobalRunQueue {
 public:
  std::size_t size() const { return size_; }

  void push(G* const* gs, std::size_t n) {
    if (size_ + n > buf_.size()) {
      grow(size_ + n);
    }
    const std::size_t mask = buf_.size() - 1;
    for (std::size_t i = 0; i < n; ++i) {
      buf_[(head_ + size_ + i) & mask] = gs[i];
    }
    size_ += n;
  }

  // Moves up to max Gs, oldest first, into out; returns how many.
  std::size_t pop(G** out, std::size_t max) {
    std::size_t n = max < size_ ? max : size_;
    const std::size_t mask = buf_.size() - 1;
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = buf_[(head_ + i) & mask];
    }
    head_ = (head_ + n) & mask;
    size_ -= n;
    return n;
  }

 private:
  void grow(std::size_t need) {
    std::size_t cap = buf_.empty() ? 1024 : buf_.size();
    while (cap < need) {
      cap *= 2;
    }
    std::vector<G*> bigger(cap);
    const std::size_t mask = buf_.size() - 1;
    for (std::size_t i = 0; i < size_; ++i) {
      bigger[i] = buf_[(head_ + i) & mask];
    }
    buf_.swap(bigger);
    head_ = 0;
  }

  std::vector<G*> buf_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace skein::detail
