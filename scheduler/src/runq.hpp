// RunQueue: a P's bounded lock-free run queue (Go's runq).
//
// Invariants:
//  - Only the owner P pushes (push/push_batch) and stores `tail_`.
//  - Anyone pops from the head: the owner (pop) and thieves (steal_half), each
//    by a compare-and-swap on `head_`; a thief copies the slots out *before*
//    the CAS publishes the new head, so a slot is read only while it is owned.
//  - 0 <= tail_ - head_ <= kCapacity; indexes wrap modulo kCapacity.
// Memory ordering: the owner's release-store of tail_ publishes the G* written
// into the slot; consumers acquire tail_ before reading slots; the CAS on head_
// (acq_rel) orders a consumer's slot reads before the owner may overwrite them.
#pragma once

#include <atomic>
#include <cstdint>

#include "g.hpp"

namespace skein::detail {

class RunQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  // Owner only. False if full (the caller then moves half to the global queue).
  bool push(G* g) noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h >= kCapacity) {
      return false;
    }
    slots_[t % kCapacity].store(g, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Owner only: when full, takes the older half (plus nothing else) out of the
  // queue into batch[] and returns how many; 0 if another consumer raced us.
  std::uint32_t take_half_for_overflow(G** batch) noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    std::uint32_t n = (t - h) / 2;
    if (n != kCapacity / 2) {
      return 0;
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      batch[i] = slots_[(h + i) % kCapacity].load(std::memory_order_relaxed);
    }
    if (!head_.compare_exchange_strong(h, h + n, std::memory_order_acq_rel)) {
      return 0;
    }
    return n;
  }

  // Any consumer (the owner normally). nullptr if empty.
  G* pop() noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      std::uint32_t t = tail_.load(std::memory_order_acquire);
      if (t == h) {
        return nullptr;
      }
      G* g = slots_[h % kCapacity].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel)) {
        return g;
      }
    }
  }

  // Thief: moves half of victim's queue into this queue (which must be empty,
  // and owned by the caller). Returns one stolen G to run now, or nullptr.
  G* steal_half_from(RunQueue& victim, std::uint32_t* stolen) noexcept {
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    std::uint32_t n = 0;
    for (;;) {
      std::uint32_t vh = victim.head_.load(std::memory_order_acquire);
      std::uint32_t vt = victim.tail_.load(std::memory_order_acquire);
      n = vt - vh;
      n = n - n / 2;
      if (n == 0) {
        *stolen = 0;
        return nullptr;
      }
      if (n > kCapacity / 2) {
        continue;  // inconsistent snapshot (head moved past tail read); retry
      }
      for (std::uint32_t i = 0; i < n; ++i) {
        G* g = victim.slots_[(vh + i) % kCapacity].load(std::memory_order_relaxed);
        slots_[(t + i) % kCapacity].store(g, std::memory_order_relaxed);
      }
      if (victim.head_.compare_exchange_weak(vh, vh + n, std::memory_order_acq_rel)) {
        break;
      }
    }
    *stolen = n;
    // Run the last one now; publish the rest.
    --n;
    G* g = slots_[(t + n) % kCapacity].load(std::memory_order_relaxed);
    if (n != 0) {
      tail_.store(t + n, std::memory_order_release);
    }
    return g;
  }

  // Any thread; approximate under concurrency.
  std::uint32_t size() const noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_acquire);
    return t - h <= kCapacity ? t - h : 0;
  }
  bool empty() const noexcept { return size() == 0; }

 private:
  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  std::atomic<G*> slots_[kCapacity] = {};
};

}  // namespace skein::detail
