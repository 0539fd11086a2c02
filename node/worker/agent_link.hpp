// AgentLink: a worker's connection to its node agent (DESIGN §2, worker row).
//
// Protocol (proto/skein/v1/worker.proto): connect to the agent's Unix socket,
// send WorkerHello{job_id, pid, role}, receive HelloAck{stats_interval_ms}.
// Then a reporter thread sends a StatsSample of this process's scheduler every
// stats_interval_ms until stop(), plus one final sample so the agent sees the
// last numbers. A failed send ends reporting quietly: the user's program keeps
// running (an agent that is gone kills us via PDEATHSIG anyway).
//
// The reporter is an OS thread, not a goroutine: it must keep reporting when
// every P is busy, which is exactly when the numbers are interesting.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "skein/cluster.hpp"
#include "skein/stats.hpp"
#include "wire/unique_fd.hpp"

namespace skein::node {

class AgentLink {
 public:
  using StatsSource = std::function<SchedStats()>;

  explicit AgentLink(cluster::WorkerContext ctx);
  ~AgentLink();  // stop()
  AgentLink(const AgentLink&) = delete;
  AgentLink& operator=(const AgentLink&) = delete;

  // Connects and exchanges Hello/HelloAck (bounded by a receive timeout).
  absl::Status connect();
  // Starts the reporter thread if the agent asked for samples.
  void start_reporting(StatsSource source);
  // Sends a final sample, stops the reporter and closes the socket.
  void stop();
  std::chrono::milliseconds stats_interval() const { return interval_; }

 private:
  void report_loop();
  absl::Status send_sample();

  cluster::WorkerContext ctx_;
  UniqueFd fd_;
  std::chrono::milliseconds interval_{0};
  StatsSource source_;
  std::thread reporter_;
  std::mutex mu_;  // guards stop_ and serializes writes to fd_
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace skein::node
