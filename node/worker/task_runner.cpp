#include "worker/task_runner.hpp"

#include <cstdio>
#include <utility>

#include "remote/executor.hpp"
#include "skein/blocking.hpp"
#include "skein/go.hpp"
#include "skein/v1/worker.pb.h"

namespace skein::node {

TaskRunner::TaskRunner(FrameSender send, std::string node)
    : send_(std::move(send)),
      node_(std::move(node)),
      queue_([this](std::vector<Outcome>& outcomes) { drain(outcomes); }) {}

void TaskRunner::on_tasks(skein::v1::TaskBatch& batch) {
  started_.fetch_add(static_cast<std::uint64_t>(batch.tasks_size()), std::memory_order_relaxed);
  // One goroutine per batch starts the tasks: a goroutine started from a
  // goroutine goes to its P's run queue, one started from this (reader)
  // thread goes to the global queue and may wake an M, so the batch costs one
  // cross-thread hand-off instead of one per task.
  go([this, batch = std::move(batch)]() mutable {
    const std::uint64_t job_id = batch.job_id();
    for (skein::v1::Task& t : *batch.mutable_tasks()) {
      go([this, job_id, owner_node = batch.owner().node_id(),
          owner_worker = batch.owner().worker_id(),
          spec = from_proto(std::move(t))] { run_one(spec, job_id, owner_node, owner_worker); });
    }
  });
}

void TaskRunner::run_one(const detail::TaskSpec& spec, std::uint64_t job_id,
                         const std::string& owner_node, std::uint64_t owner_worker) {
  detail::TaskOutcome outcome = detail::execute_task(spec, node_);
  Outcome o{job_id, owner_node, owner_worker, {}};
  to_proto(spec.task_id, spec.attempt, std::move(outcome), &o.result);
  const std::uint64_t finished = finished_.fetch_add(1, std::memory_order_relaxed) + 1;
  // More tasks waiting to run here: the stream is busy, let the background
  // writer batch. Otherwise this may be the only result for a while: send it
  // now.
  if (started_.load(std::memory_order_relaxed) - finished >= kBusyBacklog) {
    queue_.push_deferred(std::move(o));
  } else {
    queue_.push(std::move(o));
  }
}

void TaskRunner::drain(std::vector<Outcome>& outcomes) {
  // One open batch per owner; a drain round usually holds one or two owners.
  struct Open {
    const Outcome* key;
    skein::v1::WorkerToAgent msg;
    std::size_t bytes = 0;
  };
  std::vector<Open> open;
  std::string payload;
  const auto flush = [&](Open& b) {
    payload.clear();
    b.msg.SerializeToString(&payload);
    b.msg.mutable_results()->clear_results();
    b.bytes = 0;
    frames_.fetch_add(1, std::memory_order_relaxed);
    absl::Status s = blocking([&] { return send_(payload); });
    if (!s.ok() && send_failures_.fetch_add(1, std::memory_order_relaxed) == 0) {
      std::fprintf(stderr, "skein: task worker cannot send results to its node agent: %s\n",
                   std::string(s.message()).c_str());
    }
  };
  for (Outcome& o : outcomes) {
    Open* b = nullptr;
    for (Open& candidate : open) {
      if (candidate.key->owner_worker == o.owner_worker && candidate.key->job_id == o.job_id &&
          candidate.key->owner_node == o.owner_node) {
        b = &candidate;
        break;
      }
    }
    if (b == nullptr) {
      b = &open.emplace_back();
      b->key = &o;
      skein::v1::ResultBatch* rb = b->msg.mutable_results();
      rb->set_job_id(o.job_id);
      rb->mutable_owner()->set_node_id(o.owner_node);
      rb->mutable_owner()->set_worker_id(o.owner_worker);
    }
    skein::v1::ResultBatch* rb = b->msg.mutable_results();
    b->bytes += o.result.result().size();
    *rb->add_results() = std::move(o.result);
    if (static_cast<std::size_t>(rb->results_size()) >= kMaxBatchEntries ||
        b->bytes >= kBatchPayloadBytes) {
      flush(*b);
    }
  }
  for (Open& b : open) {
    if (b.msg.results().results_size() > 0) {
      flush(b);
    }
  }
}

TaskRunner::Counters TaskRunner::counters() const {
  Counters c;
  c.started = started_.load(std::memory_order_relaxed);
  c.finished = finished_.load(std::memory_order_relaxed);
  c.frames = frames_.load(std::memory_order_relaxed);
  c.send_failures = send_failures_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace skein::node
