#include "skein/detail/future_state.hpp"

#include <utility>

#include "skein/remote_error.hpp"
#include "skein/select.hpp"
#include "skein/timer.hpp"

namespace skein::detail {

FutureState::FutureState(std::uint64_t task_id, std::string function)
    : task_id_(task_id), function_(std::move(function)) {
  wg_.add(1);
}

bool FutureState::complete(std::uint32_t attempt, TaskOutcome outcome) {
  if (claimed_.exchange(true, std::memory_order_acq_rel)) {
    return false;
  }
  attempt_ = attempt;
  outcome_ = std::move(outcome);
  ready_.store(true, std::memory_order_release);
  done_.close();
  wg_.done();
  return true;
}

void FutureState::wait() const {
  if (!ready()) {
    wg_.wait();
  }
}

bool FutureState::wait_for(std::chrono::steady_clock::duration d) const {
  if (ready() || d <= std::chrono::steady_clock::duration::zero()) {
    return ready();
  }
  Timer timer(d);
  select(recv(done_), recv(timer.c()));
  return ready();
}

void FutureState::throw_error() const {
  throw RemoteError(outcome_.error, task_id_, function_, outcome_.node, attempt_,
                    outcome_.type_name, outcome_.message);
}

}  // namespace skein::detail
