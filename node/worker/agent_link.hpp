// AgentLink: a worker's one connection to its node agent (DESIGN §2, worker
// row; proto/skein/v1/worker.proto).
//
// Protocol: connect to the agent's Unix socket, send WorkerHello{job_id, pid,
// role}, receive HelloAck{stats_interval_ms, worker_id, node_id}. After that
// the same socket carries, in both directions, whatever the worker and the
// agent have to say: stats samples and task frames (TaskBatch / ResultBatch)
// from the worker, results, placed tasks and Terminate from the agent.
//
// Threads:
//   - writers: any thread may call send(); one mutex (write_mu_) serializes
//     whole frames, so frames of different writers never interleave. Callers
//     that send often batch first (combining_queue.hpp), so the lock is taken
//     once per batch, not once per task.
//   - the reader (start_reader): one OS thread blocked in read(), handing each
//     decoded AgentToWorker to on_frame, in arrival order. When the stream
//     ends or breaks it calls on_lost once, unless stop() ended it.
//   - the reporter (start_reporting): sends a StatsSample of this process's
//     scheduler every stats_interval until stop(), plus one final sample. It is
//     an OS thread, not a goroutine: it must keep reporting when every P is
//     busy, which is exactly when the numbers are interesting.
// A failed send is returned to its caller; the reader is what notices that
// the agent is gone (an agent that dies also kills us via PDEATHSIG).
//
// Lifetime: on_frame and on_lost run on the reader thread and must not call
// stop() or stop_reader(). Those may be called from any other thread, more
// than once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "skein/cluster.hpp"
#include "skein/stats.hpp"
#include "skein/v1/worker.pb.h"
#include "wire/unique_fd.hpp"

namespace skein::node {

class AgentLink {
 public:
  using StatsSource = std::function<SchedStats()>;
  using FrameHandler = std::function<void(skein::v1::AgentToWorker&)>;
  using LostHandler = std::function<void(const absl::Status&)>;

  explicit AgentLink(cluster::WorkerContext ctx);
  ~AgentLink();  // stop()
  AgentLink(const AgentLink&) = delete;
  AgentLink& operator=(const AgentLink&) = delete;

  // Connects and exchanges Hello/HelloAck (bounded by a receive timeout).
  absl::Status connect();
  // Starts the reporter thread if the agent asked for samples.
  void start_reporting(StatsSource source);
  // Starts the reader thread. Requires a successful connect().
  void start_reader(FrameHandler on_frame, LostHandler on_lost);
  // Writes one frame holding payload (a serialized WorkerToAgent). Any thread;
  // blocks the calling thread while the socket buffer is full.
  absl::Status send(std::string_view payload);
  // Stops the reader (shuts the socket for reading and joins the thread):
  // after it returns, no handler runs any more. Writing still works. Not from
  // the reader thread; idempotent.
  void stop_reader();
  // Sends a final sample, stops the reporter and the reader, closes the
  // socket. Not from the reader thread.
  void stop();

  std::chrono::milliseconds stats_interval() const { return interval_; }
  // From the HelloAck: this connection's id at the agent, and the agent's node
  // id ("" when the agent did not say).
  std::uint64_t worker_id() const { return worker_id_; }
  const std::string& node_id() const { return node_id_; }
  const cluster::WorkerContext& context() const { return ctx_; }

 private:
  void report_loop();
  void read_loop();
  absl::Status send_sample();

  cluster::WorkerContext ctx_;
  UniqueFd fd_;  // set by connect(), reset by stop() after both threads ended
  std::chrono::milliseconds interval_{0};
  std::uint64_t worker_id_ = 0;
  std::string node_id_;
  StatsSource source_;
  FrameHandler on_frame_;
  LostHandler on_lost_;
  std::thread reporter_;
  std::thread reader_;
  std::mutex write_mu_;  // held for the whole of one frame write
  std::mutex mu_;        // guards stop_
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};  // tells the reader an EOF was asked for
};

}  // namespace skein::node
