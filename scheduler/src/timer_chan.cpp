// TimerChan: the state behind after(), Timer and Ticker.
//
// One TimerNode, re-armed in place, and a capacity-1 channel. The hard part is
// that fire() runs on a scheduler thread concurrently with stop()/reset() from
// goroutines: del_timer() returning false may mean "fire is running right now",
// and reset() may then re-arm the same node before that fire finishes. So:
//  - mu_ serializes stop, reset and the second half of fire (the send and the
//    ticker re-arm). It is a ChanLock (never held across a park).
//  - outstanding_ (under mu_) counts armings not yet resolved, where an arming
//    is resolved by a del_timer() that returns true or by its fire taking mu_.
//    A fire that leaves outstanding_ at 0 is the one for the latest arming:
//    only it may re-arm a ticker. A stale fire (a reset re-armed meanwhile)
//    still delivers its value, as Go before 1.23 does, but never re-arms; so
//    the node is never armed twice.
//  - refs_ = handles + outstanding armings; the last one frees the state, so
//    a fire in flight keeps it alive after the Timer is dropped.
#include <chrono>

#include "panic.hpp"
#include "skein/detail/timer.hpp"
#include "skein/timer.hpp"

namespace skein::detail {

class TimerChan {
 public:
  TimerChan(std::int64_t period_ns) : ch_(1), period_ns_(period_ns) {
    node_.fire = &TimerChan::fire;
    node_.arg = this;
  }

  const Chan<Clock::time_point>& chan() const { return ch_; }

  void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete this;
    }
  }

  // Arms d from now; true if it was armed before.
  bool reset(Clock::duration d) {
    mu_.lock();
    const bool was = disarm_locked();
    stopped_ = false;
    arm_locked(steady_now_ns() + std::max<std::int64_t>(0, std::chrono::nanoseconds(d).count()));
    mu_.unlock();
    if (was) {
      unref();
    }
    return was;
  }

  bool stop() {
    mu_.lock();
    const bool was = disarm_locked();
    stopped_ = true;
    mu_.unlock();
    if (was) {
      unref();
    }
    return was;
  }

  void set_period(std::int64_t period_ns) {
    mu_.lock();
    period_ns_ = period_ns;
    mu_.unlock();
  }

 private:
  ~TimerChan() = default;

  // Requires mu_. True if the pending arming was cancelled (its ref is then
  // the caller's to drop).
  bool disarm_locked() {
    if (del_timer(&node_)) {
      --outstanding_;
      return true;
    }
    return false;
  }
  // Requires mu_. Takes a ref for the new arming.
  void arm_locked(std::int64_t when_ns) {
    ref();
    ++outstanding_;
    node_.when_ns = when_ns;
    add_timer(&node_);
  }

  // Scheduler thread, outside any goroutine: must not block or park.
  static void fire(TimerNode* node) {
    auto* self = static_cast<TimerChan*>(node->arg);
    const auto now = Clock::now();
    self->mu_.lock();
    --self->outstanding_;
    // Non-blocking send: a full channel (a slow receiver) drops this tick.
    (void)self->ch_.try_send(now);
    bool rearmed = false;
    if (self->period_ns_ > 0 && !self->stopped_ && self->outstanding_ == 0) {
      // Next tick on the period grid after now (ticks missed are skipped).
      const std::int64_t now_ns = steady_now_ns();
      std::int64_t when = self->node_.when_ns + self->period_ns_;
      if (when <= now_ns) {
        when += (now_ns - when) / self->period_ns_ * self->period_ns_ + self->period_ns_;
      }
      ++self->outstanding_;
      self->node_.when_ns = when;
      add_timer(&self->node_);  // keeps this arming's ref
      rearmed = true;
    }
    self->mu_.unlock();
    if (!rearmed) {
      self->unref();
    }
  }

  Chan<Clock::time_point> ch_;
  ChanLock mu_;
  TimerNode node_;                     // fire/arg immutable; the rest via add/del_timer under mu_
  std::int64_t period_ns_;             // guarded by mu_; 0 for one-shot timers
  bool stopped_ = false;               // guarded by mu_: stop() called since the last reset
  int outstanding_ = 0;                // guarded by mu_ (see the top of this file)
  std::atomic<std::int64_t> refs_{1};  // the handle's
};

}  // namespace skein::detail

namespace skein {

using detail::TimerChan;

Chan<Clock::time_point> after(Clock::duration d) {
  auto* t = new TimerChan(0);
  t->reset(d);
  Chan<Clock::time_point> ch = t->chan();
  t->unref();  // the arming keeps it alive until it fires
  return ch;
}

Timer::Timer(Clock::duration d) : t_(new TimerChan(0)) { t_->reset(d); }
Timer::~Timer() {
  if (t_ != nullptr) {
    t_->stop();
    t_->unref();
  }
}
Timer::Timer(Timer&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
Timer& Timer::operator=(Timer&& o) noexcept {
  std::swap(t_, o.t_);
  return *this;
}
const Chan<Clock::time_point>& Timer::c() const { return t_->chan(); }
bool Timer::stop() { return t_->stop(); }
bool Timer::reset(Clock::duration d) { return t_->reset(d); }

namespace {
std::int64_t checked_period(Clock::duration period) {
  const std::int64_t ns = std::chrono::nanoseconds(period).count();
  if (ns <= 0) {
    detail::fatal("non-positive interval for Ticker");
  }
  return ns;
}
}  // namespace

Ticker::Ticker(Clock::duration period) : t_(new TimerChan(checked_period(period))) {
  t_->reset(period);
}
Ticker::~Ticker() {
  if (t_ != nullptr) {
    t_->stop();
    t_->unref();
  }
}
Ticker::Ticker(Ticker&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
Ticker& Ticker::operator=(Ticker&& o) noexcept {
  std::swap(t_, o.t_);
  return *this;
}
const Chan<Clock::time_point>& Ticker::c() const { return t_->chan(); }
void Ticker::stop() { t_->stop(); }
void Ticker::reset(Clock::duration period) {
  t_->set_period(checked_period(period));
  t_->reset(period);
}

}  // namespace skein
