// sleep_until and the timer entry points on top of the per-P heaps.
#include <thread>

#include "current.hpp"
#include "sched.hpp"
#include "skein/detail/timer.hpp"
#include "skein/time.hpp"

namespace skein {

namespace {

void fire_sleep(detail::TimerNode* t) { detail::ready(static_cast<detail::G*>(t->arg)); }

}  // namespace

void sleep_until(Clock::time_point deadline) {
  detail::G* g = detail::current_running_g();
  if (g == nullptr) {
    std::this_thread::sleep_until(deadline);
    return;
  }
  const std::int64_t when =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  if (when <= detail::steady_now_ns()) {
    return;
  }
  detail::Sched* sched = g->sched;
  detail::TimerNode t;
  t.when_ns = when;
  t.fire = &fire_sleep;
  t.arg = g;
  // Arm under the heap lock and park releasing it: the timer cannot fire
  // (and ready us) before we are parked.
  detail::P* p = sched->timer_home();
  p->timers.mu.lock();
  sched->add_timer_locked(p, &t);
  sched->wake_timer_sleeper(when);
  detail::set_park_external(false);
  detail::park(&detail::SpinLock::unlock_fn, &p->timers.mu, detail::WaitReason::kSleep);
}

}  // namespace skein

namespace skein::detail {

void add_timer(TimerNode* t) { sched_for_caller().add_timer(t); }

bool del_timer(TimerNode* t) {
  // Any Sched will do: the node knows its P, and its P knows its heap.
  P* p = t->owner.load(std::memory_order_acquire);
  if (p == nullptr) {
    return false;
  }
  return p->sched->del_timer(t);
}

}  // namespace skein::detail
