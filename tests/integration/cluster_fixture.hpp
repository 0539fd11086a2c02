// ClusterFixture: a real Skein cluster for integration tests.
//
// start() makes a private temp directory, writes a 0600 cluster token, starts
// skein-coordinator on 127.0.0.1:0 (reading the bound port from its ready
// file) and N skein-node agents, and waits until every agent has registered.
// Processes are started by fork/exec from the test (with PDEATHSIG, so a
// crashed test leaves nothing behind) and stopped by pid in the destructor —
// never by name. Every wait is bounded; a timeout is a test failure with the
// daemon's log tail attached, not a hang.
//
// Binaries are found under SKEIN_TEST_BUILD_DIR (set by CTest): the build
// tree's coordinator/, node/, cli/ and tests/integration/ directories.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skein/v1/coordinator.grpc.pb.h"

namespace skein::testing {

// A child process we started; killed (SIGKILL) and reaped by the destructor.
class Child {
 public:
  Child() = default;
  ~Child();
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;

  static absl::StatusOr<Child> spawn(const std::vector<std::string>& argv,
                                     const std::string& log_file);
  pid_t pid() const { return pid_; }
  bool alive();
  // SIGTERM, wait up to `grace`, then SIGKILL; returns the wait status.
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  void kill9();

 private:
  pid_t pid_ = 0;
  bool reaped_ = false;
  int status_ = 0;
};

struct CliResult {
  int exit_code = -1;  // -1: killed by the timeout
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
};

// Runs a command, capturing stdout/stderr; kills it after `timeout`.
CliResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

std::string env_or_die(const char* name);
// <SKEIN_TEST_BUILD_DIR>/<relative>, e.g. build_path("cli/skein").
std::string build_path(const std::string& relative);
std::string make_temp_dir(const std::string& prefix);
std::string read_file(const std::string& path);
// VmRSS / VmHWM of a process from /proc/<pid>/status, in bytes (0 if gone).
std::int64_t proc_status_bytes(pid_t pid, const std::string& field);
// True if pid names a live (not zombie) process.
bool process_alive(pid_t pid);

// The first "RESULT ..." line of a job's output (the test jobs print one), or "".
std::string result_line(const std::string& out);

class Cluster {
 public:
  struct Options {
    int nodes = 3;
    int heartbeat_ms = 100;
    int miss_limit = 5;
    std::chrono::milliseconds ready_timeout{15000};
  };

  static absl::StatusOr<std::unique_ptr<Cluster>> start(Options options);
  static absl::StatusOr<std::unique_ptr<Cluster>> start() { return start(Options()); }
  ~Cluster();

  const std::string& address() const { return address_; }
  const std::string& token_file() const { return token_file_; }
  const std::string& dir() const { return dir_; }
  const std::string& job_binary() const { return job_binary_; }

  // `skein --coordinator ADDR --token-file F ARGS...`.
  CliResult cli(const std::vector<std::string>& args,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

  std::unique_ptr<skein::v1::Coordinator::Stub> stub();
  // Polls GetJob until the job is terminal.
  absl::StatusOr<skein::v1::JobInfo> wait_terminal(std::uint64_t job_id,
                                                   std::chrono::milliseconds timeout);
  absl::StatusOr<skein::v1::JobInfo> get_job(std::uint64_t job_id);
  // Ids of the live nodes, sorted.
  std::vector<std::string> alive_node_ids();
  // Waits until `n` nodes are alive and their agents' streams are attached.
  absl::Status wait_nodes(int n, std::chrono::milliseconds timeout);

  // pid of the agent that registered with this hostname ("node-2").
  pid_t node_pid(const std::string& name);
  // Agent pid of the node with this node id (via ListNodes hostname).
  absl::StatusOr<pid_t> agent_pid_of_node_id(const std::string& node_id);
  std::vector<pid_t> agent_pids();
  pid_t coordinator_pid() const { return coordinator_.pid(); }

  // Kills the coordinator (SIGKILL) and starts a new one on the same port with
  // the same data directory.
  absl::Status restart_coordinator();
  // Name ("node-2") of the agent that registered as this node id.
  absl::StatusOr<std::string> agent_name_of_node_id(const std::string& node_id);
  // SIGKILL one agent (by the pid we started), or start it again (same name
  // and work directory; it registers as a new node).
  void kill_agent(const std::string& name);
  absl::Status start_agent(const std::string& name) { return start_node(name); }
  std::string log_tail(const std::string& name);  // "coordinator" or "node-N"

 private:
  Cluster() = default;
  absl::Status start_coordinator(const std::string& listen);
  absl::Status start_node(const std::string& name);

  Options options_;
  std::string dir_;
  std::string token_file_;
  std::string address_;
  std::string coordinator_bin_, node_bin_, cli_bin_, job_binary_;
  Child coordinator_;
  std::map<std::string, Child> nodes_;
};

}  // namespace skein::testing
