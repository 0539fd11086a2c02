// TaskRunner: the executing side of remote tasks, in a task worker
// (SKEIN_WORKER_ROLE=task; docs/wire.md, "Task dispatch").
//
// The agent sends AgentToWorker.tasks: TaskBatch{job_id, owner, tasks}. Each
// task becomes a goroutine that runs execute_task (registry lookup, decode,
// call, encode; the same path as in local mode) with this node's id, and its
// outcome is queued as a TaskResult for that batch's owner. Outcomes go back
// as WorkerToAgent.results, one ResultBatch per owner (job_id and owner
// copied from the TaskBatch), at most 1,024 results / ~1 MiB of result bytes
// each (combining_queue.hpp): while few tasks wait to run here, the goroutine
// that finishes writes its outcome at once (outcomes finished meanwhile ride
// along); with a backlog of 64 or more, outcomes go to the background writer,
// which sends whatever piled up as one frame. wants_result=false: the outcome
// is sent without its value bytes.
//
// A failed write is reported once on stderr and the results are dropped: the
// link's reader sees the broken socket and ends the worker, and the agent
// reports every task still recorded in flight here as kWorkerLost, so the
// owner retries them (at-least-once).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "skein/detail/task.hpp"
#include "skein/v1/task.pb.h"
#include "worker/combining_queue.hpp"
#include "worker/task_wire.hpp"

namespace skein::node {

class TaskRunner {
 public:
  struct Counters {
    std::uint64_t started = 0;   // tasks started as goroutines
    std::uint64_t finished = 0;  // outcomes queued
    std::uint64_t frames = 0;    // ResultBatch frames written
    std::uint64_t send_failures = 0;
  };

  TaskRunner(FrameSender send, std::string node);

  // Reader thread (or any thread while a runtime runs): starts every task of
  // the batch as a goroutine. Never blocks.
  void on_tasks(skein::v1::TaskBatch& batch);

  Counters counters() const;
  // Waits until every queued result was written (or dropped); a thread, not a
  // goroutine. For an orderly teardown (tests); a worker never tears down.
  void wait_idle() { queue_.wait_idle(); }

 private:
  // One finished task, addressed to its owner.
  struct Outcome {
    std::uint64_t job_id = 0;
    std::string owner_node;
    std::uint64_t owner_worker = 0;
    skein::v1::TaskResult result;
  };
  void run_one(const detail::TaskSpec& spec, std::uint64_t job_id, const std::string& owner_node,
               std::uint64_t owner_worker);
  void drain(std::vector<Outcome>& outcomes);

  // Tasks started and not finished at which the result stream counts as busy.
  static constexpr std::uint64_t kBusyBacklog = 64;

  const FrameSender send_;
  const std::string node_;
  std::atomic<std::uint64_t> started_{0}, finished_{0}, frames_{0}, send_failures_{0};
  // Last: its background writer uses the members above until it is joined.
  CombiningQueue<Outcome> queue_;
};

}  // namespace skein::node
