#include "worker/flight_budget.hpp"

#include <vector>

namespace skein::node {

bool FlightBudget::acquire(std::uint64_t bytes) {
  lock_.lock();
  if (closed_) {
    lock_.unlock();
    return false;
  }
  if (waiters_.empty() && fits(bytes)) {
    ++count_;
    bytes_ += bytes;
    lock_.unlock();
    return true;
  }
  ++waits_;
  detail::Waiter w;
  w.g = detail::current_g();
  w.elem = &bytes;
  waiters_.push_back(&w);
  detail::park(&detail::SpinLock::unlock_fn, &lock_, detail::WaitReason::kSemaphore);
  // Whoever readied us decided, under lock_, before unlinking us.
  return w.success;
}

void FlightBudget::release(std::uint64_t bytes, std::uint64_t count) {
  // Collected under the lock, readied after it: a waiter's record lives on
  // its stack and may vanish as soon as it runs again.
  std::vector<detail::G*> woken;
  lock_.lock();
  count_ -= count;
  bytes_ -= bytes;
  while (detail::Waiter* w = waiters_.front()) {
    const std::uint64_t need = *static_cast<std::uint64_t*>(w->elem);
    if (!fits(need)) {
      break;
    }
    waiters_.pop_front();
    ++count_;
    bytes_ += need;
    w->success = true;
    woken.push_back(w->g);
  }
  lock_.unlock();
  for (detail::G* g : woken) {
    detail::ready(g);
  }
}

void FlightBudget::close() {
  std::vector<detail::G*> woken;
  lock_.lock();
  closed_ = true;
  while (detail::Waiter* w = waiters_.pop_front()) {
    w->success = false;
    woken.push_back(w->g);
  }
  lock_.unlock();
  for (detail::G* g : woken) {
    detail::ready(g);
  }
}

std::uint64_t FlightBudget::in_flight() const {
  lock_.lock();
  const std::uint64_t n = count_;
  lock_.unlock();
  return n;
}

std::uint64_t FlightBudget::bytes_in_flight() const {
  lock_.lock();
  const std::uint64_t n = bytes_;
  lock_.unlock();
  return n;
}

std::uint64_t FlightBudget::waits() const {
  lock_.lock();
  const std::uint64_t n = waits_;
  lock_.unlock();
  return n;
}

}  // namespace skein::node
