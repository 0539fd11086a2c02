// AgentConfig: everything skein-node is told at startup (main.cpp fills it
// from flags; tests fill it directly). Plain data with documented defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "agent/worker_supervisor.hpp"
#include "skein/common/auth.hpp"

namespace skein::node {

struct AgentConfig {
  std::string coordinator = "127.0.0.1:7700";  // skein-coordinator's NodeGateway
  // Credentials, one of:
  //   token_file: the admin token of a loopback (single-user) coordinator;
  //   <work_dir>/pki: a node certificate, got once with the join token in
  //     bootstrap_token_file and the CA pin ca_hash (agent/bootstrap.hpp);
  //   tls: certificate files made elsewhere (tests, operators' own PKI).
  std::string token_file;
  std::string bootstrap_token_file;
  std::string ca_hash;
  TlsFiles tls;
  // Private state: binary cache, per-job directories and logs, the worker
  // socket. Created with mode 0700.
  std::string work_dir;
  std::string node_name;          // reported as the node's hostname; default: gethostname()
  int cpus = 0;                   // 0 = hardware threads
  std::int64_t memory_bytes = 0;  // 0 = MemTotal
  std::map<std::string, std::string> labels;
  std::chrono::milliseconds heartbeat{0};          // 0 = the coordinator's period
  std::chrono::milliseconds stats_interval{1000};  // asked of every worker
  std::uint64_t job_log_max_bytes = 8 << 20;       // per job, x2 with rotation
  std::uint64_t max_binary_bytes = std::uint64_t{512} << 20;
  std::size_t max_queued_log_bytes = 4 << 20;  // relay queue to the coordinator
  WorkerLimits worker_limits{.max_open_files = 4096,
                             .max_file_size_bytes = std::uint64_t{1} << 30,
                             .cpu_seconds = 24 * 3600,
                             .memory_bytes = 0,
                             .max_pids = 4096};
  std::chrono::milliseconds cancel_grace{2000};
};

}  // namespace skein::node
