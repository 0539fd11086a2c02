#include "skein/dist_waitgroup.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "skein/select.hpp"
#include "skein/timer.hpp"

namespace skein::detail {

namespace {
// Failed task ids named in wait()'s message; failures() has them all.
constexpr std::size_t kMaxNamedFailures = 16;
}  // namespace

WaitGroupState::WaitGroupState() = default;

void WaitGroupState::add(std::int64_t delta) {
  Chan<std::monostate> to_close;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const std::int64_t before = count_;
    count_ += delta;
    if (count_ < 0) {
      std::fprintf(stderr, "skein: fatal: DistWaitGroup counter went negative (%lld)\n",
                   static_cast<long long>(count_));
      std::fflush(stderr);
      std::_Exit(2);
    }
    if (before == 0 && count_ > 0) {
      zero_ = Chan<std::monostate>(0);
    } else if (before > 0 && count_ == 0) {
      to_close = std::move(zero_);
      zero_ = Chan<std::monostate>();
    }
  }
  // Closed outside mu_: waking the waiters needs no lock of ours.
  if (to_close) {
    to_close.close();
  }
}

void WaitGroupState::task_finished(std::uint64_t task_id, const std::string& function,
                                   std::uint32_t attempt, const TaskOutcome& outcome) {
  if (outcome.error != TaskError::kNone) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(TaskFailure{task_id, function, outcome.error, outcome.node, attempt,
                                    outcome.type_name, outcome.message});
  }
  add(-1);
}

Chan<std::monostate> WaitGroupState::wait_channel() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_ == 0 ? Chan<std::monostate>() : zero_;
}

void WaitGroupState::wait() {
  Chan<std::monostate> ch = wait_channel();
  if (ch) {
    ch.recv();
  }
  throw_if_failed();
}

bool WaitGroupState::wait_for(std::chrono::steady_clock::duration d) {
  Chan<std::monostate> ch = wait_channel();
  if (ch) {
    if (d <= std::chrono::steady_clock::duration::zero()) {
      return false;
    }
    Timer timer(d);
    if (select(recv(ch), recv(timer.c())) != 0) {
      return false;
    }
  }
  throw_if_failed();
  return true;
}

std::int64_t WaitGroupState::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

std::vector<TaskFailure> WaitGroupState::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

void WaitGroupState::throw_if_failed() const {
  std::unique_lock<std::mutex> lock(mu_);
  if (failures_.empty()) {
    return;
  }
  const TaskFailure first = failures_.front();
  std::string message = first.message;
  if (failures_.size() > 1) {
    message += " [" + std::to_string(failures_.size()) + " tasks of the group failed:";
    for (std::size_t i = 0; i < failures_.size() && i < kMaxNamedFailures; ++i) {
      const TaskFailure& f = failures_[i];
      message += (i == 0 ? " " : "; ") + std::to_string(f.task_id) + " (" + f.function + ", " +
                 (f.error == TaskError::kException ? f.type_name : task_error_name(f.error)) + ")";
    }
    if (failures_.size() > kMaxNamedFailures) {
      message += "; ...";
    }
    message += "]";
  }
  lock.unlock();
  throw RemoteError(first.error, first.task_id, first.function, first.node, first.attempt,
                    first.type_name, std::move(message));
}

}  // namespace skein::detail
