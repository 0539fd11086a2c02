// ClusterTransport: the owner side of remote tasks in a cluster (DESIGN §4;
// docs/wire.md, "Task dispatch"). Installed by the run hook (run.cpp) in every
// worker, driver or task worker, before main's goroutine starts.
//
// What it does with one attempt handed over by the owner table:
//   - arguments over 3 MiB: refused at once (kBadPayload), never sent;
//   - local_first while fewer than `local_slots` local_first tasks run here:
//     runs it in this process as a goroutine (execute_task), like the local
//     transport; beyond that it is sent with PLACEMENT_KIND_LOCAL_FIRST and the
//     coordinator spills it;
//   - otherwise: converts it to a skein.v1.Task and queues it for the agent
//     link. Frames are TaskBatch messages of at most 1,024 tasks / ~1 MiB of
//     arguments (combining_queue.hpp). While fewer than `inline_below` tasks
//     are in flight the stream counts as idle and the spawning goroutine
//     writes at once (spawns arriving meanwhile ride in its next frame: flat
//     combining); busier, the task goes to a background writer thread, woken
//     once per batch, which sends whatever piled up. No timer anywhere.
// Backpressure: a first attempt takes room in the window (FlightBudget: a
// count and argument bytes) before it is queued and gives it back when any
// result for that task id arrives, so at most `window` first attempts and
// `window_bytes` of their arguments are in flight; the spawning goroutine
// parks while the window is full (a plain thread blocks). Retries never wait:
// they are submitted from the completion path (the link's reader thread),
// which must not block, so they bypass the window and go to the background
// writer.
//
// Results (on_results, reader thread) go to the completion sink, i.e. the
// owner table, which drops duplicates and stale attempts. When the link is
// lost (on_link_lost), the attached owner table is closed with kNodeLost:
// every pending task fails, later spawns fail at once, parked spawners wake.
//
// Invariants: windowed_ holds exactly the task ids that hold room in window_;
// broken_ only goes false -> true, after the owner table was closed; sink_ is set by the first
// submit and never changes (there is one owner table per process).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "remote/owner_table.hpp"
#include "remote/transport.hpp"
#include "skein/dist_waitgroup.hpp"
#include "skein/v1/task.pb.h"
#include "worker/combining_queue.hpp"
#include "worker/flight_budget.hpp"
#include "worker/task_wire.hpp"

namespace skein::node {

struct ClusterTransportOptions {
  // First attempts in flight per owner process. 16,384: the measured
  // throughput against a fake agent levels off near 4k and memory stays a few
  // MiB (bench figures in node/remote/README.md).
  std::uint32_t window = 16384;
  // Argument bytes of those tasks (a lone larger task still goes).
  std::uint64_t window_bytes = std::uint64_t{64} << 20;
  // local_first tasks run in this process at once (the runtime's Ps).
  int local_slots = 1;
  // Below this many tasks in flight the stream counts as idle: the spawning
  // goroutine writes its task at once. At or above it, the background writer
  // batches (see combining_queue.hpp).
  std::size_t inline_below = 64;
  // Names the agent in errors: "node agent of n1 (/run/.../agent.sock)".
  std::string agent_description = "node agent";
  // This connection's id at the agent (HelloAck.worker_id): with the node id,
  // this process's identity as the owner of DistWaitGroups.
  std::uint64_t worker_id = 0;
};

class ClusterTransport final : public detail::TaskTransport {
 public:
  struct Counters {
    std::uint64_t sent = 0;             // tasks handed to the queue for the agent
    std::uint64_t frames = 0;           // TaskBatch frames written
    std::uint64_t window_waits = 0;     // first attempts that found the window full
    std::uint64_t ran_locally = 0;      // local_first attempts run in this process
    std::uint64_t refused = 0;          // refused at submit (too large, link lost)
    std::uint64_t results = 0;          // results received
    std::uint64_t unowned_results = 0;  // results before any submit (dropped)
    std::uint64_t deltas_sent = 0;      // wait-group deltas handed to the queue
    std::uint64_t deltas_dropped = 0;   // not sent: the link was lost
    std::uint64_t deltas_received = 0;  // applied through the registry (or dropped there)
  };

  ClusterTransport(FrameSender send, std::string node, ClusterTransportOptions options);
  ~ClusterTransport() override;

  // The table to close when the link is lost. Call once, before any spawn.
  void attach(detail::OwnerTable* table) { table_ = table; }

  void submit(detail::TaskSpec spec, detail::CompletionSink& sink) override;
  bool can_lose_tasks() const override { return true; }
  std::string_view node_name() const override { return node_; }
  detail::GroupOwner owner_identity() const override { return {node_, options_.worker_id}; }
  // A DistWaitGroup add/done for a group another process owns: queued as a
  // WaitGroupDelta for that owner and sent as WorkerToAgent.wg_deltas (one
  // WaitGroupDeltaBatch per owner per frame). At most once (docs/wire.md "Wait
  // groups"): dropped, and counted, once the link is lost. From a goroutine it
  // may write the frame itself; from any other thread the background writer
  // does.
  void send_wg_delta(const detail::GroupOwner& owner, std::uint64_t group_id,
                     std::int64_t delta) override;

  // Reader thread: deltas other processes sent for groups this one owns.
  void on_wg_deltas(const skein::v1::WaitGroupDeltaBatch& batch);

  // Reader thread: outcomes of tasks this process owns.
  void on_results(skein::v1::ResultBatch& batch);
  // The link broke (reader thread, or a writer whose send failed). Idempotent.
  void on_link_lost(const std::string& why);
  bool broken() const { return broken_.load(std::memory_order_acquire); }

  Counters counters() const;
  std::uint32_t window() const { return options_.window; }
  // Waits until every queued task was written (or dropped); a thread, not a
  // goroutine. For an orderly teardown (tests); a worker never tears down.
  void wait_idle() {
    queue_.wait_idle();
    deltas_.wait_idle();
  }

 private:
  void drain(std::vector<skein::v1::Task>& tasks);
  struct Delta {
    detail::GroupOwner owner;
    std::uint64_t group_id = 0;
    std::int64_t delta = 0;
  };
  void drain_deltas(std::vector<Delta>& deltas);
  bool write(const std::string& payload);
  void refuse(detail::TaskSpec& spec, detail::CompletionSink& sink, TaskError error,
              std::string message);
  bool take_local_slot();
  std::string lost_why();
  void run_locally(detail::TaskSpec spec, detail::CompletionSink& sink);

  const FrameSender send_;
  const std::string node_;
  const ClusterTransportOptions options_;
  detail::OwnerTable* table_ = nullptr;
  std::atomic<detail::CompletionSink*> sink_{nullptr};
  std::atomic<bool> broken_{false};
  std::mutex lost_mu_;
  bool lost_ = false;     // guarded by lost_mu_: on_link_lost ran
  std::string lost_why_;  // guarded by lost_mu_; set before broken_

  FlightBudget window_;
  std::mutex flight_mu_;
  // Guarded by flight_mu_: task id -> argument bytes, for the first attempts
  // that hold room in window_.
  std::unordered_map<std::uint64_t, std::uint64_t> windowed_;
  std::atomic<int> local_running_{0};

  std::atomic<std::uint64_t> sent_{0}, frames_{0}, ran_locally_{0}, refused_{0}, results_{0},
      unowned_results_{0}, deltas_sent_{0}, deltas_dropped_{0}, deltas_received_{0};

  // Last: their background writers use the members above until joined.
  CombiningQueue<skein::v1::Task> queue_;
  CombiningQueue<Delta> deltas_;
};

}  // namespace skein::node
