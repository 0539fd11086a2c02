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
  Waiter w;
  w.g = current_g();
  lock_.lock();
  // Tokens are taken only under the lock (no lock-free fast path): release()
  // publishes a token and then unlocks, and the unlock must be its last
  // access, because an acquirer that gets the token may return and destroy
  // the semaphore's owner (a WaitGroup on a stack) at once.
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
    count_.fetch_add(1, std::memory_order_relaxed);
    lock_.unlock();  // last access to *this
    return;
  }
  lock_.unlock();
  ready(w->g);  // w lives on the waiter's stack, which is parked until now
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
