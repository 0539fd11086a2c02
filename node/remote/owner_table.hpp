// OwnerTable: the tasks this process spawned and has not seen finish, keyed by
// task id. The process that spawns a task owns its future and its WaitGroup
// count (Ray's ownership model); this table is where both are settled.
//
// Accounting rules (RELIABILITY R1, R2), applied to every completion:
//   - unknown task id (never issued, or already settled): dropped. Since ids
//     are issued in increasing order, an id below the next one that is not
//     pending was settled already: a duplicate. Nothing is kept per settled
//     task, so memory is bounded by the tasks in flight.
//   - attempt newer than the latest submitted: dropped (cannot be genuine).
//   - success, from the current or an older attempt: settles the task (at-
//     least-once execution means an older attempt's value is as good).
//   - failure from an older attempt: dropped as stale; the current attempt
//     will report.
//   - failure from the current attempt: retried (same id, attempt + 1) if it
//     is a system failure, or an exception with retry_exceptions, while
//     attempt - 1 < max_retries (max_retries < 0: no limit) and the spec was
//     kept; otherwise it settles the task as failed.
//   - poison (R4): every kWorkerLost of the current attempt is a "death" of
//     the task. The third death settles it as kPoisoned (naming the count and
//     the last death) instead of retrying it, even with budget left. Deaths
//     are attempts too: one budget (max_retries) bounds all re-runs, and the
//     death count is a second, stricter bound for worker crashes (see
//     node/remote/README.md, "Poison tasks").
//   - the deadline (SpawnOptions::deadline) settles the task as failed with
//     kDeadlineExceeded; whatever arrives later is a duplicate.
//   - after close(error, why) (the transport is gone for good) every pending
//     task is settled with that error, no retry is submitted, and every later
//     launch settles at once the same way: nothing can wait on a task that
//     has no way to run.
// Settling happens once per task: the entry leaves the map under mu_, and only
// the thread that removed it completes the future / counts the group.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "remote/transport.hpp"
#include "skein/detail/future_state.hpp"
#include "skein/detail/task.hpp"
#include "skein/dist_waitgroup.hpp"

namespace skein::detail {

struct DeadlineTimer;

class OwnerTable final : public CompletionSink {
 public:
  // The transport must outlive the table; the table must outlive every task
  // submitted through it.
  explicit OwnerTable(TaskTransport& transport);
  ~OwnerTable() override;
  OwnerTable(const OwnerTable&) = delete;
  OwnerTable& operator=(const OwnerTable&) = delete;

  // A fresh task id: unique for this table, increasing, never 0. Any thread.
  std::uint64_t next_task_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  // Registers spec (its id from next_task_id) with the future and/or group to
  // settle (either may be null), arms its deadline, and submits attempt 1.
  // group->add(1) happens here, before the submit.
  void launch(TaskSpec spec, std::shared_ptr<FutureState> future,
              std::shared_ptr<WaitGroupState> group);

  // CompletionSink: applies the rules above. Any thread; never parks (a retry
  // submits from here, so the transport's submit must not park when called
  // from a non-goroutine thread).
  void complete(TaskCompletion completion) override;

  // Settles every pending task as failed (the transport was lost, the job is
  // ending). Any thread.
  void fail_all(TaskError error, const std::string& why);

  // fail_all, and from now on refuses retries and new launches (each settles
  // at once with error / why). For a transport that cannot recover. Any
  // thread; the first close wins.
  void close(TaskError error, const std::string& why);

  // Worker deaths (kWorkerLost of the current attempt) that poison a task.
  static constexpr std::uint32_t kPoisonDeaths = 3;

  struct Counters {
    std::uint64_t launched = 0;
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;   // settled with an error (incl. deadline)
    std::uint64_t retried = 0;  // attempts submitted after the first
    std::uint64_t deadline_expired = 0;
    std::uint64_t duplicates = 0;  // completions of settled tasks
    std::uint64_t stale = 0;       // failures of superseded attempts
    std::uint64_t unknown = 0;     // ids never issued, attempts never made
    std::uint64_t poisoned = 0;    // settled as kPoisoned (R4)
    std::uint64_t pending = 0;
  };
  Counters counters() const;

 private:
  struct Entry {
    std::uint32_t attempt = 1;  // latest submitted
    std::uint32_t deaths = 0;   // attempts that ended in kWorkerLost (R4)
    bool kept_spec = false;     // spec.args kept for retries
    TaskSpec spec;              // args empty unless kept_spec
    std::shared_ptr<FutureState> future;
    std::shared_ptr<WaitGroupState> group;
    DeadlineTimer* timer = nullptr;
  };

  // Completes the future / group of an entry already removed from pending_.
  // Called without mu_.
  void settle(Entry& entry, std::uint32_t attempt, TaskOutcome outcome);
  void expire(std::uint64_t task_id);
  TaskOutcome closed_outcome() const;  // requires closed_ (read under mu_ or after)
  static void on_deadline(DeadlineTimer* timer);
  static void release_timer(DeadlineTimer* timer);

  TaskTransport& transport_;
  std::atomic<std::uint64_t> next_id_{1};
  mutable std::mutex mu_;
  std::unordered_map<std::uint64_t, Entry> pending_;  // guarded by mu_
  Counters counters_;                                 // guarded by mu_ (pending unused)
  bool closed_ = false;                               // guarded by mu_; never reset
  TaskError closed_error_ = TaskError::kNone;         // written once with closed_
  std::string closed_why_;                            // written once with closed_
};

}  // namespace skein::detail
