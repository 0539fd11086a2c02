// WorkerServer: the agent's Unix-domain socket for its workers.
//
// Each worker connects once (path in its SKEIN_AGENT_SOCKET) and sends a
// WorkerHello. The server gives the connection a worker_id (never reused in
// this server's life: it is the TaskOwner.worker_id results are routed by)
// and answers HelloAck{stats_interval_ms, worker_id, node_id}. Then frames
// flow both ways (proto/skein/v1/worker.proto, docs/wire.md "Task dispatch"):
//   worker -> agent: StatsSample (kept, the heartbeat forwards the latest),
//                    TaskBatch (job_id and owner are filled in here from the
//                    validated hello: a worker cannot speak for another one),
//                    ResultBatch (job_id filled in here),
//                    WaitGroupDeltaBatch (job_id filled in here; owner is
//                    the group's, so it is kept);
//   agent -> worker: TaskBatch / ResultBatch / WaitGroupDeltaBatch through
//                    send().
//
// Trust: the socket is mode 0600 in the agent's private work directory, and a
// hello is accepted only if the kernel-reported peer pid (SO_PEERCRED) belongs
// to a worker this agent launched for that job (the `validate` callback).
// A peer that lies about its job, sends garbage or an oversized frame is
// disconnected; nothing it sends reaches the coordinator unvalidated.
//
// Threads. One loop thread runs epoll over the listener and all connections;
// a connection's read state (frame buffer, latest sample) is owned by it and
// every handler runs on it. Writes come from any thread through send(): the
// sockets are non-blocking, so send() writes at once when nothing is queued
// for that worker (no wake-up of the loop thread on the fast path) and
// otherwise appends to the connection's outbound buffer, which the loop drains
// on EPOLLOUT. Nothing ever blocks the loop thread.
//
// Bounds. Outbound: more than max_queued_bytes waiting for one worker makes
// send() wait (up to its deadline) for the worker to read; the loop thread
// itself never waits. Inbound: while handlers.upstream_ready() is false (the
// relay to the coordinator is full) worker sockets are not read, so the
// workers block in write() instead of the agent buffering without limit.
//
// Invariants (out_mu_): out_ has an entry exactly for connections that
// completed the hello and are not dropped yet; its fd stays open while the
// entry exists (the loop erases the entry before closing), so any thread may
// write to it under out_mu_. pending bytes = buf.size() - off.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skein/v1/common.pb.h"
#include "skein/v1/worker.pb.h"
#include "wire/unique_fd.hpp"

namespace skein::node {

// A connection that completed its hello.
struct WorkerInfo {
  std::uint64_t worker_id = 0;
  std::uint64_t job_id = 0;
  pid_t pid = 0;  // SO_PEERCRED, not what the hello claims
  skein::v1::WorkerRole role = skein::v1::WORKER_ROLE_UNSPECIFIED;
};

// Called on the loop thread; must not block (send() from them never waits).
struct WorkerServerHandlers {
  // Whether a process with this pid may speak for job_id. Required.
  std::function<bool(std::uint64_t job_id, pid_t peer_pid)> validate;
  // The agent's node id for HelloAck and TaskOwner ("" until registered).
  std::function<std::string()> node_id;
  // After the HelloAck: the connection can receive frames now.
  std::function<void(const WorkerInfo&)> hello;
  // Spawns from a worker, job_id and owner filled in.
  std::function<void(skein::v1::TaskBatch)> tasks;
  // Outcomes from a worker, job_id filled in.
  std::function<void(const WorkerInfo&, skein::v1::ResultBatch)> results;
  // DistWaitGroup deltas from a worker for a group owned elsewhere, job_id
  // filled in (owner is the group's, as the worker wrote it).
  std::function<void(skein::v1::WaitGroupDeltaBatch)> wg_deltas;
  // The connection is gone (after a hello).
  std::function<void(const WorkerInfo&)> gone;
  // False: stop reading worker sockets for now (rechecked every
  // kPausedPollInterval).
  std::function<bool()> upstream_ready;
};

class WorkerServer {
 public:
  // Whether a process with this pid may speak for job_id.
  using Validator = std::function<bool(std::uint64_t job_id, pid_t peer_pid)>;

  static constexpr std::size_t kDefaultMaxQueuedBytes = std::size_t{8} << 20;
  static constexpr std::chrono::milliseconds kPausedPollInterval{10};

  WorkerServer(std::string socket_path, std::chrono::milliseconds stats_interval,
               Validator validate);
  WorkerServer(std::string socket_path, std::chrono::milliseconds stats_interval,
               WorkerServerHandlers handlers,
               std::size_t max_queued_bytes = kDefaultMaxQueuedBytes);
  ~WorkerServer();  // stop()
  WorkerServer(const WorkerServer&) = delete;
  WorkerServer& operator=(const WorkerServer&) = delete;

  // Binds (replacing a stale socket file) and starts the loop thread.
  absl::Status start();
  void stop();

  // Queues one frame for a worker (any thread). Waits until `deadline` while
  // more than max_queued_bytes are already waiting for it (never on the loop
  // thread). NotFound: no such connection (gone); ResourceExhausted: still
  // full at the deadline; Unavailable: stopping.
  absl::Status send(std::uint64_t worker_id, const skein::v1::AgentToWorker& msg,
                    std::chrono::steady_clock::time_point deadline);

  // The latest sample of every connected worker that has sent one.
  std::vector<skein::v1::JobStats> snapshot() const;
  // Number of workers that completed the hello.
  std::size_t connected() const;
  // Bytes queued for a worker and not yet written (0 if unknown).
  std::size_t queued_bytes(std::uint64_t worker_id) const;
  const std::string& path() const { return path_; }

 private:
  struct Conn;
  struct Outbound {
    int fd = -1;
    std::string buf;  // encoded frames; bytes before `off` are written
    std::size_t off = 0;
    bool want_out = false;  // EPOLLOUT armed
    bool paused = false;    // EPOLLIN removed (upstream not ready)
    std::size_t pending() const { return buf.size() - off; }
  };

  void loop();
  void accept_all();
  void on_readable(int fd, bool hangup);
  void on_writable(int fd);
  void on_hello(Conn& c, const skein::v1::WorkerHello& hello);
  void on_frame(Conn& c, skein::v1::WorkerToAgent& msg);
  void drop(int fd);
  void publish();
  void resume_paused();
  bool is_ready() const;
  // out_mu_ held. Writes what it can; arms/disarms EPOLLOUT. False: broken.
  bool flush_locked(Outbound& o);
  void update_events_locked(const Outbound& o);

  std::string path_;
  std::chrono::milliseconds stats_interval_;
  WorkerServerHandlers handlers_;
  std::size_t max_queued_bytes_;
  UniqueFd listen_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::thread thread_;
  std::thread::id loop_id_;
  std::atomic<bool> stopping_{false};  // set by stop(), then wake_ is signalled

  // Loop thread only.
  std::map<int, std::unique_ptr<Conn>> conns_;
  std::uint64_t next_worker_id_ = 1;
  std::size_t paused_ = 0;  // connections with reading paused

  mutable std::mutex out_mu_;  // guards out_
  std::condition_variable out_cv_;
  std::unordered_map<std::uint64_t, Outbound> out_;

  mutable std::mutex mu_;  // guards published_ and connected_
  std::vector<skein::v1::JobStats> published_;
  std::size_t connected_ = 0;
};

}  // namespace skein::node
