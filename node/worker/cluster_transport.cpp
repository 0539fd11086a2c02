#include "worker/cluster_transport.hpp"

#include <utility>
#include <vector>

#include "remote/executor.hpp"
#include "remote/wait_group_registry.hpp"
#include "skein/blocking.hpp"
#include "skein/go.hpp"
#include "skein/v1/worker.pb.h"

namespace skein::node {

ClusterTransport::ClusterTransport(FrameSender send, std::string node,
                                   ClusterTransportOptions options)
    : send_(std::move(send)),
      node_(std::move(node)),
      options_(std::move(options)),
      window_(options_.window, options_.window_bytes),
      queue_([this](std::vector<skein::v1::Task>& tasks) { drain(tasks); }),
      deltas_([this](std::vector<Delta>& deltas) { drain_deltas(deltas); }) {}

ClusterTransport::~ClusterTransport() = default;

void ClusterTransport::refuse(detail::TaskSpec& spec, detail::CompletionSink& sink, TaskError error,
                              std::string message) {
  refused_.fetch_add(1, std::memory_order_relaxed);
  detail::TaskCompletion c;
  c.task_id = spec.task_id;
  c.attempt = spec.attempt;
  c.outcome.error = error;
  c.outcome.type_name = task_error_name(error);
  c.outcome.message = std::move(message);
  c.outcome.node = node_;
  sink.complete(std::move(c));
}

bool ClusterTransport::take_local_slot() {
  int n = local_running_.load(std::memory_order_relaxed);
  while (n < options_.local_slots) {
    if (local_running_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel)) {
      return true;
    }
  }
  return false;
}

void ClusterTransport::run_locally(detail::TaskSpec spec, detail::CompletionSink& sink) {
  ran_locally_.fetch_add(1, std::memory_order_relaxed);
  go([this, spec = std::move(spec), &sink] {
    detail::TaskCompletion c{spec.task_id, spec.attempt, detail::execute_task(spec, node_)};
    // The slot is free before the completion, so a retry may run here again.
    local_running_.fetch_sub(1, std::memory_order_acq_rel);
    sink.complete(std::move(c));
  });
}

void ClusterTransport::submit(detail::TaskSpec spec, detail::CompletionSink& sink) {
  detail::CompletionSink* expected = nullptr;
  sink_.compare_exchange_strong(expected, &sink, std::memory_order_acq_rel);
  if (spec.args.size() > kMaxTaskArgsBytes) {
    refuse(spec, sink, TaskError::kBadPayload,
           "arguments of " + std::to_string(spec.args.size()) +
               " bytes exceed the limit of one task (" + std::to_string(kMaxTaskArgsBytes) +
               " bytes); pass large data by reference (a file or key) instead");
    return;
  }
  if (broken()) {
    refuse(spec, sink, TaskError::kNodeLost, lost_why());
    return;
  }
  if (spec.options.placement.kind() == Placement::Kind::kLocalFirst && take_local_slot()) {
    run_locally(std::move(spec), sink);
    return;
  }
  // Only first attempts wait for the window: retries come from the completion
  // path, which must never block (transport.hpp).
  const bool windowed = spec.attempt == 1;
  std::size_t in_flight = 0;
  if (windowed) {
    const std::uint64_t bytes = spec.args.size();
    if (!window_.acquire(bytes)) {  // closed: the link is gone
      refuse(spec, sink, TaskError::kNodeLost, lost_why());
      return;
    }
    std::lock_guard<std::mutex> lock(flight_mu_);
    windowed_.emplace(spec.task_id, bytes);
    in_flight = windowed_.size();
  }
  skein::v1::Task task;
  to_proto(std::move(spec), &task);
  sent_.fetch_add(1, std::memory_order_relaxed);
  // Idle stream: write now, in this goroutine (lowest latency). Busy stream,
  // or a retry from the completion path: the background writer batches.
  if (windowed && in_flight < options_.inline_below) {
    queue_.push(std::move(task));
  } else {
    queue_.push_deferred(std::move(task));
  }
}

void ClusterTransport::drain(std::vector<skein::v1::Task>& tasks) {
  if (broken()) {
    return;  // their owner-table entries were settled by close()
  }
  skein::v1::WorkerToAgent msg;
  skein::v1::TaskBatch* batch = msg.mutable_tasks();
  std::size_t bytes = 0;
  std::string payload;
  const auto flush = [&]() -> bool {
    payload.clear();
    msg.SerializeToString(&payload);
    batch->clear_tasks();
    bytes = 0;
    return write(payload);
  };
  for (skein::v1::Task& t : tasks) {
    bytes += t.args().size();
    *batch->add_tasks() = std::move(t);
    if (static_cast<std::size_t>(batch->tasks_size()) >= kMaxBatchEntries ||
        bytes >= kBatchPayloadBytes) {
      if (!flush()) {
        return;
      }
    }
  }
  if (batch->tasks_size() > 0) {
    flush();
  }
}

bool ClusterTransport::write(const std::string& payload) {
  frames_.fetch_add(1, std::memory_order_relaxed);
  // A full socket buffer blocks the write; let the P go meanwhile.
  absl::Status s = blocking([&] { return send_(payload); });
  if (!s.ok()) {
    on_link_lost("cannot write to it: " + std::string(s.message()));
    return false;
  }
  return true;
}

void ClusterTransport::send_wg_delta(const detail::GroupOwner& owner, std::uint64_t group_id,
                                     std::int64_t delta) {
  if (broken()) {
    deltas_dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  deltas_sent_.fetch_add(1, std::memory_order_relaxed);
  Delta d{owner, group_id, delta};
  if (goroutine_id() != 0) {
    deltas_.push(std::move(d));
  } else {
    deltas_.push_deferred(std::move(d));
  }
}

void ClusterTransport::drain_deltas(std::vector<Delta>& deltas) {
  if (broken()) {
    deltas_dropped_.fetch_add(deltas.size(), std::memory_order_relaxed);
    return;
  }
  // Batches per owner of at most kMaxBatchEntries, in the order the deltas
  // came (per-sender order is what the wire promises; messages are written in
  // creation order); a drain round rarely holds more than one owner.
  std::vector<skein::v1::WorkerToAgent> msgs;
  std::vector<const detail::GroupOwner*> owners;
  std::vector<std::size_t> current;  // owners[i]'s open message in msgs
  for (const Delta& d : deltas) {
    std::size_t i = 0;
    while (i < owners.size() && !(*owners[i] == d.owner)) {
      ++i;
    }
    if (i == owners.size()) {
      owners.push_back(&d.owner);
      current.push_back(msgs.size());
      msgs.emplace_back();
    } else if (static_cast<std::size_t>(msgs[current[i]].wg_deltas().deltas_size()) >=
               kMaxBatchEntries) {
      current[i] = msgs.size();
      msgs.emplace_back();
    }
    auto* b = msgs[current[i]].mutable_wg_deltas();
    if (b->deltas_size() == 0) {
      b->mutable_owner()->set_node_id(d.owner.node_id);
      b->mutable_owner()->set_worker_id(d.owner.worker_id);
    }
    auto* wd = b->add_deltas();
    wd->set_group_id(d.group_id);
    wd->set_delta(d.delta);
  }
  std::string payload;
  for (const auto& m : msgs) {
    payload.clear();
    m.SerializeToString(&payload);
    if (!write(payload)) {
      return;
    }
  }
}

void ClusterTransport::on_wg_deltas(const skein::v1::WaitGroupDeltaBatch& batch) {
  deltas_received_.fetch_add(static_cast<std::uint64_t>(batch.deltas_size()),
                             std::memory_order_relaxed);
  for (const skein::v1::WaitGroupDelta& d : batch.deltas()) {
    if (d.delta() != 0) {
      detail::apply_wait_group_delta(d.group_id(), d.delta());
    }
  }
}

void ClusterTransport::on_results(skein::v1::ResultBatch& batch) {
  const auto n = static_cast<std::uint64_t>(batch.results_size());
  results_.fetch_add(n, std::memory_order_relaxed);
  detail::CompletionSink* sink = sink_.load(std::memory_order_acquire);
  if (sink == nullptr) {
    unowned_results_.fetch_add(n, std::memory_order_relaxed);
    return;
  }
  std::uint64_t released = 0;
  std::uint64_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(flight_mu_);
    for (const skein::v1::TaskResult& r : batch.results()) {
      auto it = windowed_.find(r.task_id());
      if (it != windowed_.end()) {
        ++released;
        bytes += it->second;
        windowed_.erase(it);
      }
    }
  }
  if (released > 0) {
    window_.release(bytes, released);
  }
  for (skein::v1::TaskResult& r : *batch.mutable_results()) {
    sink->complete(from_proto(std::move(r)));
  }
}

std::string ClusterTransport::lost_why() {
  std::lock_guard<std::mutex> lock(lost_mu_);
  return lost_why_;
}

void ClusterTransport::on_link_lost(const std::string& why) {
  std::string message;
  {
    std::lock_guard<std::mutex> lock(lost_mu_);
    if (lost_) {
      return;
    }
    lost_ = true;
    lost_why_ = "lost the connection to " + options_.agent_description + ": " + why;
    message = lost_why_;
  }
  // The table first: once it is closed no retry is submitted and no launch
  // reaches submit(), so the kNodeLost refusals below can never recurse into
  // retries; every task it held is settled by the close.
  if (table_ != nullptr) {
    table_->close(TaskError::kNodeLost, message);
  }
  broken_.store(true, std::memory_order_release);
  window_.close();  // parked spawners wake and refuse their task
}

ClusterTransport::Counters ClusterTransport::counters() const {
  Counters c;
  c.sent = sent_.load(std::memory_order_relaxed);
  c.frames = frames_.load(std::memory_order_relaxed);
  c.window_waits = window_.waits();
  c.ran_locally = ran_locally_.load(std::memory_order_relaxed);
  c.refused = refused_.load(std::memory_order_relaxed);
  c.results = results_.load(std::memory_order_relaxed);
  c.unowned_results = unowned_results_.load(std::memory_order_relaxed);
  c.deltas_sent = deltas_sent_.load(std::memory_order_relaxed);
  c.deltas_dropped = deltas_dropped_.load(std::memory_order_relaxed);
  c.deltas_received = deltas_received_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace skein::node
