// WorkerServer: the agent's Unix-domain socket for its workers.
//
// Each worker connects once (path in its SKEIN_AGENT_SOCKET), sends a
// WorkerHello, gets a HelloAck telling it how often to report, then sends a
// StatsSample about once a second (proto/skein/v1/worker.proto). The server
// keeps the latest sample per connected worker; the heartbeat forwards them.
//
// Trust: the socket is mode 0600 in the agent's private work directory, and a
// hello is accepted only if the kernel-reported peer pid (SO_PEERCRED) belongs
// to a worker this agent launched for that job (the `validate` callback).
// A peer that lies about its job, sends garbage or an oversized frame is
// disconnected; nothing it sends reaches the coordinator unvalidated.
//
// One thread runs an epoll loop over the listener and all connections; a
// connection's state (its frame buffer and latest sample) is owned by that
// thread, and only the published samples are shared, under a mutex.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skein/v1/common.pb.h"
#include "wire/unique_fd.hpp"

namespace skein::node {

class WorkerServer {
 public:
  // Whether a process with this pid may speak for job_id.
  using Validator = std::function<bool(std::uint64_t job_id, pid_t peer_pid)>;

  WorkerServer(std::string socket_path, std::chrono::milliseconds stats_interval,
               Validator validate);
  ~WorkerServer();  // stop()
  WorkerServer(const WorkerServer&) = delete;
  WorkerServer& operator=(const WorkerServer&) = delete;

  // Binds (replacing a stale socket file) and starts the loop thread.
  absl::Status start();
  void stop();

  // The latest sample of every connected worker that has sent one.
  std::vector<skein::v1::JobStats> snapshot() const;
  // Number of workers that completed the hello.
  std::size_t connected() const;
  const std::string& path() const { return path_; }

 private:
  struct Conn;
  void loop();
  void accept_all();
  void on_readable(int fd);
  void drop(int fd);
  void publish();

  std::string path_;
  std::chrono::milliseconds stats_interval_;
  Validator validate_;
  UniqueFd listen_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};  // set by stop(), then wake_ is signalled

  std::map<int, std::unique_ptr<Conn>> conns_;  // loop thread only

  mutable std::mutex mu_;  // guards published_ and connected_
  std::vector<skein::v1::JobStats> published_;
  std::size_t connected_ = 0;
};

}  // namespace skein::node
