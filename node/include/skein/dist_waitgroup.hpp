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
//
// Passing a group to a task (it serializes with cereal, so it can be a
// SKEIN_REMOTE argument): the archive holds {owner node id, owner worker id,
// group id}, the owner being the process that made the group (its identity
// comes from the agent's HelloAck; outside a cluster it is this process).
// Decoded in the owner process itself, the handle is the same group (local
// operations, as before). Decoded in any other process it is a *remote
// handle*: add(n) and done() send a delta to the owner (batched per owner by
// the transport, never waiting for the owner: docs/wire.md "Wait groups"),
// where it is applied exactly as add(delta); a delta for a group that no
// longer exists is dropped and counted there. On a remote handle:
//   - wait() and wait_for() throw std::logic_error: wait only in the process
//     that made the group;
//   - spawn(wg, ...) throws std::logic_error for the same reason (add(1) on
//     the handle, then done() in the spawned task, is the equivalent);
//   - count() is the sum of the deltas sent through this handle and its
//     copies (not the owner's count, which only the owner knows);
//   - failures() is empty.
// Ordering, as in Go: the add that a done balances must happen before it. The
// safe pattern is wg.add(n) on the owner before spawning the tasks that call
// wg.done(). Deltas from one process to one owner arrive in the order they
// were sent; deltas from different processes are not ordered among
// themselves, so a remote add(1) followed by a remote done() in another
// process may arrive in either order (the owner must already hold the count
// above zero). Deltas are delivered at most once (never re-sent after a
// broken stream: a duplicate would count twice), so a lost link can leave the
// owner's wait() waiting; bound it with wait_for.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <cereal/types/string.hpp>

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
class WaitGroupState : public std::enable_shared_from_this<WaitGroupState> {
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

  // This group's id in the process's registry, registering it on first use
  // (when a handle is first serialized). Never 0.
  std::uint64_t registry_id();
  // Unregisters the id, if any.
  ~WaitGroupState();

 private:
  // The channel to wait on, or a nil channel if the count is zero.
  Chan<std::monostate> wait_channel() const;
  void throw_if_failed() const;

  mutable std::mutex mu_;
  std::int64_t count_ = 0;
  Chan<std::monostate> zero_;
  std::vector<TaskFailure> failures_;
  std::uint64_t registry_id_ = 0;  // guarded by mu_; 0 = never serialized
};

// Who owns a group: the process that made it, as the agents route to it.
// {"", 0} outside a cluster.
struct GroupOwner {
  std::string node_id;
  std::uint64_t worker_id = 0;
  bool operator==(const GroupOwner&) const = default;
};

// A handle decoded outside the group's owner process. Shared by the copies of
// that handle; sent_ only counts.
struct RemoteGroup {
  GroupOwner owner;
  std::uint64_t group_id = 0;
  std::atomic<std::int64_t> sent{0};
};

// node/remote/wait_group_registry.cpp.
// This process's identity as a group owner (from its transport).
GroupOwner this_group_owner();
// The live group with this id in this process, or null.
std::shared_ptr<WaitGroupState> find_wait_group(std::uint64_t group_id);
// add(delta) on a group of another process, through the transport; counted
// in group.sent. Any thread; never waits for the owner.
void send_wait_group_delta(RemoteGroup& group, std::int64_t delta);
std::int64_t sent_through(const RemoteGroup& group);
[[noreturn]] void throw_remote_wait(const char* what);

}  // namespace detail

class DistWaitGroup {
 public:
  DistWaitGroup() : state_(std::make_shared<detail::WaitGroupState>()) {}

  void add(std::int64_t delta = 1) {
    if (state_) {
      state_->add(delta);
    } else if (delta != 0) {
      detail::send_wait_group_delta(*remote_, delta);
    }
  }
  void done() { add(-1); }
  // Parks until the count is zero; throws RemoteError if a task failed.
  // std::logic_error on a remote handle.
  void wait() {
    if (!state_) {
      detail::throw_remote_wait("wait()");
    }
    state_->wait();
  }
  // As wait(), but gives up after d and returns false (the count stays).
  // std::logic_error on a remote handle.
  bool wait_for(std::chrono::steady_clock::duration d) {
    if (!state_) {
      detail::throw_remote_wait("wait_for()");
    }
    return state_->wait_for(d);
  }
  // The group's count; on a remote handle, the deltas sent through it.
  std::int64_t count() const { return state_ ? state_->count() : detail::sent_through(*remote_); }
  std::vector<TaskFailure> failures() const {
    return state_ ? state_->failures() : std::vector<TaskFailure>{};
  }
  // False for a handle decoded outside the group's owner process.
  bool is_local() const noexcept { return state_ != nullptr; }

  // For spawn and the owner table. std::logic_error on a remote handle
  // (spawn(wg, ...) counts the task at the group, which lives elsewhere).
  const std::shared_ptr<detail::WaitGroupState>& state() const {
    if (!state_) {
      detail::throw_remote_wait("spawn(wg, ...)");
    }
    return state_;
  }

  // cereal: {owner node id, owner worker id, group id}.
  template <class Archive>
  void save(Archive& ar) const {
    if (state_) {
      const detail::GroupOwner owner = detail::this_group_owner();
      const std::uint64_t group_id = state_->registry_id();
      ar(owner.node_id, owner.worker_id, group_id);
    } else {
      ar(remote_->owner.node_id, remote_->owner.worker_id, remote_->group_id);
    }
  }
  template <class Archive>
  void load(Archive& ar) {
    detail::GroupOwner owner;
    std::uint64_t group_id = 0;
    ar(owner.node_id, owner.worker_id, group_id);
    if (owner == detail::this_group_owner()) {
      if (auto state = detail::find_wait_group(group_id)) {
        state_ = std::move(state);
        remote_.reset();
        return;
      }
      // The group is gone: a remote handle to ourselves, whose deltas the
      // registry drops and counts, as the owner would.
    }
    state_.reset();
    remote_ = std::make_shared<detail::RemoteGroup>();
    remote_->owner = std::move(owner);
    remote_->group_id = group_id;
  }

 private:
  // Exactly one is set: state_ in the owner process, remote_ elsewhere.
  std::shared_ptr<detail::WaitGroupState> state_;
  std::shared_ptr<detail::RemoteGroup> remote_;
};

}  // namespace skein
