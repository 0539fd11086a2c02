// ContextState: one node of the cancellation tree (Go's cancelCtx/timerCtx).
//
// Lock order: a parent's mu_ before a child's. cancel() takes its own mu_
// only to claim the cancellation and detach the children, then cancels them
// outside it (each takes only its own mu_), then unlinks itself from its
// parent (the parent's mu_). No two locks are ever held at once, so the
// deadline timer's fire callback (a scheduler thread) can run cancel() too:
// every step is short and non-blocking (close() only readies goroutines).
#include "skein/context.hpp"

#include <unordered_map>

#include "skein/detail/timer.hpp"

namespace skein::detail {

class ContextState : public std::enable_shared_from_this<ContextState> {
 public:
  ContextState(std::optional<Clock::time_point> deadline) : done_(0), deadline_(deadline) {
    timer_.fire = &ContextState::fire;
    timer_.arg = this;
  }
  ~ContextState() = default;

  const Chan<std::monostate>& done() const { return done_; }
  ContextErr err() const { return err_.load(std::memory_order_acquire); }
  std::optional<Clock::time_point> deadline() const { return deadline_; }

  // Links this (new) context under parent, or cancels it at once if the
  // parent is already cancelled.
  void attach(const std::shared_ptr<ContextState>& parent) {
    if (parent == nullptr) {
      return;  // background is never cancelled
    }
    parent->mu_.lock();
    const ContextErr perr = parent->err_.load(std::memory_order_relaxed);
    if (perr == ContextErr::kNone) {
      parent->children_.emplace(this, shared_from_this());
      parent_ = parent;
    }
    parent->mu_.unlock();
    if (perr != ContextErr::kNone) {
      cancel(perr, false);
    }
  }

  // Arms the deadline timer (once, before the context is shared).
  void arm_deadline() {
    const std::int64_t when =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline_->time_since_epoch()).count();
    if (when <= steady_now_ns()) {
      cancel(ContextErr::kDeadlineExceeded, true);
      return;
    }
    timer_ref_ = shared_from_this();
    timer_.when_ns = when;
    add_timer(&timer_);
  }

  void cancel(ContextErr e, bool unlink_from_parent) {
    mu_.lock();
    if (err_.load(std::memory_order_relaxed) != ContextErr::kNone) {
      mu_.unlock();
      return;
    }
    err_.store(e, std::memory_order_release);
    auto children = std::move(children_);
    children_.clear();
    mu_.unlock();
    done_.close();
    for (auto& [ptr, child] : children) {
      child->cancel(e, false);
    }
    if (unlink_from_parent) {
      if (auto parent = parent_.lock()) {
        parent->mu_.lock();
        parent->children_.erase(this);
        parent->mu_.unlock();
      }
    }
    // Release the deadline timer, unless it is firing right now (then its
    // fire() drops the reference itself).
    if (del_timer(&timer_)) {
      mu_.lock();
      std::shared_ptr<ContextState> ref = std::move(timer_ref_);
      mu_.unlock();
    }
  }

 private:
  // Scheduler thread, outside any goroutine; must not block.
  static void fire(TimerNode* t) {
    auto* self = static_cast<ContextState*>(t->arg);
    self->mu_.lock();
    std::shared_ptr<ContextState> keep = std::move(self->timer_ref_);
    self->mu_.unlock();
    self->cancel(ContextErr::kDeadlineExceeded, true);
  }

  Chan<std::monostate> done_;  // closed by cancel; immutable handle
  const std::optional<Clock::time_point> deadline_;
  std::atomic<ContextErr> err_{ContextErr::kNone};  // written once under mu_
  ChanLock mu_;  // guards children_, timer_ref_, and the claim of err_
  std::unordered_map<ContextState*, std::shared_ptr<ContextState>> children_;
  std::weak_ptr<ContextState> parent_;       // written once by attach, before sharing
  TimerNode timer_;                          // the deadline (fire/arg immutable)
  std::shared_ptr<ContextState> timer_ref_;  // keeps us alive while the timer is armed
};

}  // namespace skein::detail

namespace skein {

using detail::ContextState;

struct ContextAccess {
  static const std::shared_ptr<ContextState>& state(const Context& c) { return c.s_; }
  static WithCancel make(std::shared_ptr<ContextState> s) {
    return WithCancel{Context(s), CancelFn(s)};
  }
};

const char* context_err_message(ContextErr e) {
  switch (e) {
    case ContextErr::kNone:
      return "";
    case ContextErr::kCanceled:
      return "context canceled";
    case ContextErr::kDeadlineExceeded:
      return "context deadline exceeded";
  }
  return "?";
}

Context Context::background() { return Context(nullptr); }

Chan<std::monostate> Context::done() const {
  return s_ == nullptr ? Chan<std::monostate>() : s_->done();
}
ContextErr Context::err() const { return s_ == nullptr ? ContextErr::kNone : s_->err(); }
std::optional<Clock::time_point> Context::deadline() const {
  return s_ == nullptr ? std::nullopt : s_->deadline();
}

void CancelFn::operator()() const {
  if (s_ != nullptr) {
    s_->cancel(ContextErr::kCanceled, true);
  }
}

WithCancel with_cancel(const Context& parent) {
  const auto& p = ContextAccess::state(parent);
  auto s = std::make_shared<ContextState>(parent.deadline());
  s->attach(p);
  return ContextAccess::make(std::move(s));
}

WithCancel with_deadline(const Context& parent, Clock::time_point deadline) {
  if (auto pd = parent.deadline(); pd && *pd <= deadline) {
    return with_cancel(parent);  // the parent's deadline comes first
  }
  const auto& p = ContextAccess::state(parent);
  auto s = std::make_shared<ContextState>(deadline);
  s->attach(p);
  s->arm_deadline();
  return ContextAccess::make(std::move(s));
}

WithCancel with_timeout(const Context& parent, Clock::duration timeout) {
  return with_deadline(parent, Clock::now() + timeout);
}

}  // namespace skein
