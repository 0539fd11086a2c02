// The seam between the owner of tasks and whatever runs them.
//
// The owner table (owner_table.hpp) decides what to run and counts what
// finished; a TaskTransport only moves TaskSpecs out and TaskCompletions back.
// Two implementations:
//   - LocalTransport (local_transport.hpp): the binary runs outside a cluster;
//     each task is a goroutine on this process's scheduler.
//   - the cluster transport (next step, node/worker/): batches TaskSpecs onto
//     the worker's stream to its node agent, which forwards them to the
//     coordinator for placement; completions and WaitGroup counts come back
//     on the same stream and are handed to the sink.
//
// Contract for implementations:
//   - submit() is called from goroutines (the spawning one, or the one that
//     delivered a completion that triggered a retry) and from timer callbacks
//     never. It may park the calling goroutine to apply backpressure, but must
//     not hold it for the duration of the task.
//   - Each submitted attempt yields at most one completion per delivery path,
//     tagged with the spec's (task_id, attempt); duplicates are allowed (the
//     sink drops them), silence is not: a task lost with its worker or node
//     must come back as a completion with TaskError::kWorkerLost / kNodeLost,
//     or the owner only learns of it at its deadline.
//   - sink.complete() may be called from any thread, also before submit()
//     returns.
#pragma once

#include <string_view>

#include "skein/detail/task.hpp"

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
};

}  // namespace skein::detail
