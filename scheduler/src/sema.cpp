#include "skein/detail/sema.hpp"

namespace skein::detail {

bool Sema::try_acquire() noexcept {
  std::uint32_t c = count_.load(std::memory_order_relaxed);
  while (c > 0) {
    if (count_.compare_exchange_weak(c, c - 1, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void Sema::acquire(WaitReason reason) {
  if (try_acquire()) {
    return;
  }
  Waiter w;
  w.g = current_g();
  lock_.lock();
  // Re-check under the lock: release() either incremented count_ before we
  // locked, or will find us on the list.
  if (try_acquire()) {
    lock_.unlock();
    return;
  }
  waiters_.push_back(&w);
  park(&SpinLock::unlock_fn, &lock_, reason);
  // release() handed us the token directly.
}

void Sema::release() {
  lock_.lock();
  Waiter* w = waiters_.pop_front();
  if (w == nullptr) {
    count_.fetch_add(1, std::memory_order_release);
    lock_.unlock();
    return;
  }
  lock_.unlock();
  ready(w->g);
}

int Sema::release_all() {
  lock_.lock();
  WaitList woken = std::move(waiters_);
  waiters_ = WaitList();
  lock_.unlock();
  int n = 0;
  while (Waiter* w = woken.pop_front()) {
    ready(w->g);
    ++n;
  }
  return n;
}

}  // namespace skein::detail
