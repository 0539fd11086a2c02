// DistWaitGroup: a WaitGroup that joins remote tasks wherever they ran
// (DESIGN §4, RELIABILITY R1/R2).
//
//   skein::DistWaitGroup wg;
//   for (int shard = 0; shard < 1000; ++shard) skein::spawn(wg, SKEIN_FN(visit), shard);
//   wg.wait();   // parks; throws skein::RemoteError if any task failed
//
// The counter lives at its owner, the process that created the group. spawn(wg,
// ...) adds 1 before the task is submitted and the owner's task table removes it
// when the task ends, exactly once per task id: every completion carries
// (task id, attempt), and duplicates and stale attempts are dropped before they
// reach the group (node/remote/owner_table.hpp), so a retried task is counted
// once. add(n) and done() work as in Go's sync.WaitGroup for work that is not a
// spawned task.
//
// Failure (R2, never a hang): a task that fails for good (exception, deadline,
// lost node after its retries, ...) still counts as finished, and is recorded.
// wait() returns when the counter reaches zero, then throws a RemoteError if
// any task of the group failed: the first failure's details, and a message
// naming every failed task id (up to 16) and why. failures() lists them all.
// A group that saw a failure stays failed: every later wait() throws again.
// A spawn with a deadline bounds how long wait() can take.
//
// Rules: add with a positive delta happens before the wait it should hold
// back; the counter going negative is a fatal error. The group may be reused
// once every wait() of the previous round has returned. wait and wait_for
// must run in a goroutine. Happens-before: everything a task did before it
// returned happens before the wait() its completion releases.
//
// A DistWaitGroup is a shared handle: copies (e.g. captured in goroutines)
// count on the same group.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "skein/chan.hpp"
#include "skein/detail/task.hpp"
#include "skein/remote_error.hpp"

namespace skein {

struct TaskFailure {
  std::uint64_t task_id = 0;
  std::string function;
  TaskError error = TaskError::kNone;
  std::string node;
  std::uint32_t attempt = 0;
  std::string type_name;
  std::string message;
};

namespace detail {

// Invariants (all under mu_): count_ >= 0; zero_ is an open channel while
// count_ > 0 and the nil channel while count_ == 0 (the open one is closed,
// waking every waiter, when the count returns to zero, and a fresh one is made
// when it leaves zero); failures_ only grows.
class WaitGroupState {
 public:
  WaitGroupState();
  // Any thread, including timer callbacks; never parks.
  void add(std::int64_t delta);
  // A task of this group ended (success or final failure). Any thread.
  void task_finished(std::uint64_t task_id, const std::string& function, std::uint32_t attempt,
                     const TaskOutcome& outcome);
  void wait();
  bool wait_for(std::chrono::steady_clock::duration d);
  std::int64_t count() const;
  std::vector<TaskFailure> failures() const;

 private:
  // The channel to wait on, or a nil channel if the count is zero.
  Chan<std::monostate> wait_channel() const;
  void throw_if_failed() const;

  mutable std::mutex mu_;
  std::int64_t count_ = 0;
  Chan<std::monostate> zero_;
  std::vector<TaskFailure> failures_;
};

}  // namespace detail

class DistWaitGroup {
 public:
  DistWaitGroup() : state_(std::make_shared<detail::WaitGroupState>()) {}

  void add(std::int64_t delta = 1) { state_->add(delta); }
  void done() { state_->add(-1); }
  // Parks until the count is zero; throws RemoteError if a task failed.
  void wait() { state_->wait(); }
  // As wait(), but gives up after d and returns false (the count stays).
  bool wait_for(std::chrono::steady_clock::duration d) { return state_->wait_for(d); }
  std::int64_t count() const { return state_->count(); }
  std::vector<TaskFailure> failures() const { return state_->failures(); }

  // For spawn and the owner table.
  const std::shared_ptr<detail::WaitGroupState>& state() const noexcept { return state_; }

 private:
  std::shared_ptr<detail::WaitGroupState> state_;
};

}  // namespace skein
