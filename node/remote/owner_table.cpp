#include "remote/owner_table.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "skein/detail/timer.hpp"

namespace skein::detail {

// A deadline armed on the runtime's timer heap. Two references: the pending
// entry's (dropped when the task settles) and the armed timer's (dropped when
// it fires, or together with the entry's when del_timer disarms it first), so
// neither the firing callback nor the settling thread can see it freed.
struct DeadlineTimer {
  TimerNode node;
  OwnerTable* table = nullptr;
  std::uint64_t task_id = 0;
  std::atomic<int> refs{2};
};

namespace {

std::string format_duration(std::chrono::steady_clock::duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return std::to_string(ms) + " ms";
}

}  // namespace

OwnerTable::OwnerTable(TaskTransport& transport) : transport_(transport) {}

OwnerTable::~OwnerTable() {
  fail_all(TaskError::kCanceled, "the task's owner table was destroyed");
}

void OwnerTable::launch(TaskSpec spec, std::shared_ptr<FutureState> future,
                        std::shared_ptr<WaitGroupState> group) {
  Entry e;
  e.attempt = spec.attempt;
  e.future = std::move(future);
  e.group = std::move(group);
  // Keep the arguments only if this task may ever be submitted again.
  const bool retries = spec.options.max_retries != 0;  // < 0: no limit
  e.kept_spec = retries && (transport_.can_lose_tasks() || spec.options.retry_exceptions);
  if (e.kept_spec) {
    e.spec = spec;
  } else {
    e.spec.task_id = spec.task_id;
    e.spec.attempt = spec.attempt;
    e.spec.function = spec.function;
    e.spec.options = spec.options;
    e.spec.deadline = spec.deadline;
    e.spec.wants_result = spec.wants_result;
  }
  DeadlineTimer* timer = nullptr;
  if (spec.deadline != std::chrono::steady_clock::time_point::max()) {
    timer = new DeadlineTimer;
    timer->table = this;
    timer->task_id = spec.task_id;
    timer->node.when_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(spec.deadline.time_since_epoch())
            .count();
    timer->node.arg = timer;
    timer->node.fire = [](TimerNode* n) { on_deadline(static_cast<DeadlineTimer*>(n->arg)); };
    e.timer = timer;
  }
  if (e.group) {
    e.group->add(1);
  }
  const std::uint64_t id = spec.task_id;
  {
    std::unique_lock<std::mutex> lock(mu_);
    ++counters_.launched;
    if (closed_) {
      ++counters_.failed;
      TaskOutcome o = closed_outcome();
      lock.unlock();
      delete timer;  // never armed
      e.timer = nullptr;
      settle(e, e.attempt, std::move(o));
      return;
    }
    pending_.emplace(id, std::move(e));
  }
  // Armed after the entry exists, so an early firing finds it; before the
  // submit, so no completion can race with the arming.
  if (timer != nullptr) {
    add_timer(&timer->node);
  }
  transport_.submit(std::move(spec), *this);
}

void OwnerTable::complete(TaskCompletion c) {
  std::optional<Entry> settled;
  std::optional<TaskSpec> retry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(c.task_id);
    if (it == pending_.end()) {
      if (c.task_id != 0 && c.task_id < next_id_.load(std::memory_order_relaxed)) {
        ++counters_.duplicates;
      } else {
        ++counters_.unknown;
      }
      return;
    }
    Entry& e = it->second;
    if (c.attempt == 0 || c.attempt > e.attempt) {
      ++counters_.unknown;
      return;
    }
    const TaskError err = c.outcome.error;
    if (err != TaskError::kNone) {
      if (c.attempt < e.attempt) {
        ++counters_.stale;
        return;
      }
      const SpawnOptions& o = e.spec.options;
      const bool retriable =
          is_system_failure(err) || (err == TaskError::kException && o.retry_exceptions);
      const bool budget_left = o.max_retries < 0 || static_cast<int>(e.attempt - 1) < o.max_retries;
      const bool before_deadline = std::chrono::steady_clock::now() < e.spec.deadline;
      if (err == TaskError::kWorkerLost) {
        ++e.deaths;
      }
      if (retriable && budget_left && e.kept_spec && before_deadline && !closed_) {
        if (err == TaskError::kWorkerLost && e.deaths >= kPoisonDeaths) {
          // R4: it would run again, but every worker it ran in died. Blame
          // it rather than take down a fourth worker (and its other tasks).
          TaskOutcome& p = c.outcome;
          p.message = "task " + std::to_string(c.task_id) + " (" + e.spec.function +
                      ") was in flight in " + std::to_string(e.deaths) +
                      " worker deaths; quarantined as a poison task instead of a retry. "
                      "Last death (attempt " +
                      std::to_string(c.attempt) + "): " + p.message;
          p.error = TaskError::kPoisoned;
          p.type_name = task_error_name(TaskError::kPoisoned);
          ++counters_.poisoned;
        } else {
          ++e.attempt;
          ++counters_.retried;
          retry.emplace(e.spec);
          retry->attempt = e.attempt;
        }
      }
    }
    if (!retry) {
      settled.emplace(std::move(e));
      pending_.erase(it);
      if (err == TaskError::kNone) {
        ++counters_.succeeded;
      } else {
        ++counters_.failed;
      }
    }
  }
  if (retry) {
    transport_.submit(std::move(*retry), *this);
    return;
  }
  settle(*settled, c.attempt, std::move(c.outcome));
}

void OwnerTable::expire(std::uint64_t task_id) {
  std::optional<Entry> settled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(task_id);
    if (it == pending_.end()) {
      return;  // settled first; the timer lost the race
    }
    settled.emplace(std::move(it->second));
    pending_.erase(it);
    ++counters_.failed;
    ++counters_.deadline_expired;
  }
  TaskOutcome o;
  o.error = TaskError::kDeadlineExceeded;
  o.type_name = task_error_name(TaskError::kDeadlineExceeded);
  o.message = "deadline of " + format_duration(settled->spec.options.deadline) +
              " passed before attempt " + std::to_string(settled->attempt) + " finished";
  o.node = std::string(transport_.node_name());
  settle(*settled, settled->attempt, std::move(o));
}

void OwnerTable::close(TaskError error, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      return;
    }
    closed_ = true;
    closed_error_ = error;
    closed_why_ = why;
  }
  fail_all(error, why);
}

TaskOutcome OwnerTable::closed_outcome() const {
  TaskOutcome o;
  o.error = closed_error_;
  o.type_name = task_error_name(closed_error_);
  o.message = closed_why_;
  o.node = std::string(transport_.node_name());
  return o;
}

void OwnerTable::fail_all(TaskError error, const std::string& why) {
  std::vector<Entry> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries.reserve(pending_.size());
    for (auto& [id, e] : pending_) {
      entries.push_back(std::move(e));
    }
    counters_.failed += pending_.size();
    pending_.clear();
  }
  for (Entry& e : entries) {
    TaskOutcome o;
    o.error = error;
    o.type_name = task_error_name(error);
    o.message = why;
    o.node = std::string(transport_.node_name());
    settle(e, e.attempt, std::move(o));
  }
}

void OwnerTable::settle(Entry& e, std::uint32_t attempt, TaskOutcome outcome) {
  if (e.timer != nullptr) {
    release_timer(e.timer);
    e.timer = nullptr;
  }
  if (e.group) {
    e.group->task_finished(e.spec.task_id, e.spec.function, attempt, outcome);
  }
  if (e.future) {
    e.future->complete(attempt, std::move(outcome));
  }
}

void OwnerTable::on_deadline(DeadlineTimer* timer) {
  timer->table->expire(timer->task_id);
  if (timer->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    delete timer;
  }
}

void OwnerTable::release_timer(DeadlineTimer* timer) {
  const int drop = del_timer(&timer->node) ? 2 : 1;
  if (timer->refs.fetch_sub(drop, std::memory_order_acq_rel) == drop) {
    delete timer;
  }
}

OwnerTable::Counters OwnerTable::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  Counters c = counters_;
  c.pending = pending_.size();
  return c;
}

}  // namespace skein::detail
