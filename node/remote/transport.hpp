// The seam between the owner of tasks and whatever runs them.
//
// The owner table (owner_table.hpp) decides what to run and counts what
// finished; a TaskTransport only moves TaskSpecs out and TaskCompletions back.
// Two implementations:
//   - LocalTransport (local_transport.hpp): the binary runs outside a cluster;
//     each task is a goroutine on this process's scheduler.
//   - ClusterTransport (node/worker/cluster_transport.hpp): batches TaskSpecs
//     onto the worker's socket to its node agent, which forwards them to the
//     coordinator for placement; completions come back on the same socket and
//     are handed to the sink.
//
// Contract for implementations:
//   - submit() is called from goroutines (the spawning one, or a local one
//     whose completion triggered a retry), from the thread that delivers
//     completions (retries: attempt > 1), and from timer callbacks never. It
//     may park the calling goroutine of a first attempt to apply
//     backpressure, but must not hold it for the duration of the task, and
//     must never block a retry.
//   - Each submitted attempt yields at most one completion per delivery path,
//     tagged with the spec's (task_id, attempt); duplicates are allowed (the
//     sink drops them), silence is not: a task lost with its worker or node
//     must come back as a completion with TaskError::kWorkerLost / kNodeLost,
//     or the owner only learns of it at its deadline.
//   - sink.complete() may be called from any thread, also before submit()
//     returns.
//   - DistWaitGroup deltas for groups of other processes (send_wg_delta)
//     are delivered at most once, in order per owner, and never block the
//     caller for long. The defaults fit a transport that is alone in its
//     world (local mode): this process owns every group and applies deltas
//     itself.
#pragma once

#include <cstdint>
#include <string_view>

#include "skein/detail/task.hpp"
#include "skein/dist_waitgroup.hpp"

namespace skein::detail {

class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  // Delivers the outcome of one attempt. Any thread; never parks.
  virtual void complete(TaskCompletion completion) = 0;
};

class TaskTransport {
 public:
  virtual ~TaskTransport() = default;
  // Starts running one attempt of spec; its completion goes to sink, which
  // must outlive the attempt.
  virtual void submit(TaskSpec spec, CompletionSink& sink) = 0;
  // Whether an attempt can vanish with a worker or node (and so be retried by
  // the owner from a copy of its spec). False in local mode, where the owner
  // then keeps a spec's arguments only if exceptions are retried.
  virtual bool can_lose_tasks() const = 0;
  // The node name this process reports in errors ("local" outside a cluster).
  virtual std::string_view node_name() const = 0;
  // This process as the owner of the groups it makes ({"", 0} locally).
  virtual GroupOwner owner_identity() const { return {}; }
  // Sends add(delta) to group_id of owner. Any thread; must not park the
  // caller for long. The default applies it in this process
  // (apply_wait_group_delta).
  virtual void send_wg_delta(const GroupOwner& owner, std::uint64_t group_id, std::int64_t delta);
};

}  // namespace skein::detail
