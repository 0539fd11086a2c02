// WorkerSupervisor: launches job binaries as worker processes and watches them.
//
// Model. One supervisor thread owns every worker: it forks them, reads their
// stdout/stderr pipes, reaps them and enforces cancel deadlines, all from one
// epoll loop (pidfds for exits, pipes for output, an eventfd for commands).
// Other threads talk to it only through commands (launch, cancel), so no
// worker state is shared.
//
// Why one thread forks: PR_SET_PDEATHSIG fires when the *thread* that forked
// the child exits, not the process. Forking from a short-lived gRPC thread would
// kill workers at random; the supervisor thread lives as long as the agent.
//
// Isolation of a worker (RELIABILITY.md "Safe defaults" 5): its own session and
// process group; PDEATHSIG(SIGKILL) so it never outlives the agent;
// NO_NEW_PRIVS; every inherited descriptor closed; signal dispositions and mask
// reset; an allow-listed environment built by the caller; rlimits (no core
// files, open files, file size, a CPU-time backstop); optionally cgroup v1
// memory and pids limits when /sys/fs/cgroup is writable. The binary is
// executed from an already-verified descriptor with execveat(AT_EMPTY_PATH),
// so the file that runs is the file whose SHA-256 was checked.
//
// Output. Both pipes go to an OutputSink. When the sink is not ready for a job
// (its relay queue is full) the supervisor stops reading that worker's pipes;
// the worker then blocks in write(), so a flood of output costs the agent a
// bounded amount of memory instead of an unbounded queue.
//
// Exit. When the worker process exits, the supervisor SIGKILLs what is left of
// its process group (a job's helpers die with it), drains the pipes (bounded
// in time) and reports one WorkerExit per launch: exit code, or the signal.
// Every output() of a worker precedes its exited(), so a sink that sees the
// exit of a job's last worker has seen all of the job's output here.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wire/unique_fd.hpp"

namespace skein::node {

struct WorkerLimits {
  std::uint64_t max_open_files = 4096;
  std::uint64_t max_file_size_bytes = std::uint64_t{1} << 30;
  // RLIMIT_CPU backstop in seconds of CPU time; 0 disables it.
  std::uint64_t cpu_seconds = 0;
  // cgroup v1 limits, applied only when the hierarchy is writable; 0 = none.
  std::uint64_t memory_bytes = 0;
  std::uint64_t max_pids = 0;
};

struct LaunchSpec {
  std::string job_id;
  UniqueFd exe;                   // verified binary, opened O_RDONLY|O_CLOEXEC
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "KEY=VALUE" entries; nothing else is inherited
  std::string cwd;                // must exist
  WorkerLimits limits;
  // Runs on the supervisor thread right after a successful exec, before any
  // output or exit of this worker is reported: "started" is always first.
  std::function<void(pid_t)> on_started;
};

enum class OutputStream { kStdout = 1, kStderr = 2 };

struct WorkerExit {
  std::string job_id;
  pid_t pid = 0;
  int exit_code = 0;    // meaningful when term_signal == 0
  int term_signal = 0;  // signal that killed the process, or 0
  bool cancelled = false;
  std::string message;  // "exited with code 3", "killed by signal 11 (Segmentation fault)"
};

// Receives worker output and exits. Called on the supervisor thread only;
// implementations must not block for long.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // False pauses reading this job's pipes until it returns true again
  // (polled every kPausedPollInterval).
  virtual bool ready(const std::string& job_id) = 0;
  // `pid` is the worker whose pipe it came from (helpers it started share
  // its pipes, so their output counts as the worker's).
  virtual void output(const std::string& job_id, pid_t pid, OutputStream stream,
                      std::string_view data) = 0;
  virtual void exited(const WorkerExit& exit) = 0;
};

struct SupervisorOptions {
  // SIGTERM -> SIGKILL grace period for cancel().
  std::chrono::milliseconds cancel_grace{2000};
  // After the worker exits, how long to wait for its pipes to reach EOF.
  std::chrono::milliseconds drain_timeout{2000};
  // Directory under which per-job cgroups are created, e.g. "skein-<node>".
  std::string cgroup_name = "skein";
  // Where live workers are recorded for orphan_reaper.hpp; empty = nowhere.
  std::string records_dir;
};

class WorkerSupervisor {
 public:
  WorkerSupervisor(SupervisorOptions options, OutputSink* sink);
  ~WorkerSupervisor();  // kills every worker still running, then joins
  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // Forks and executes the worker. Returns its pid once exec succeeded, or the
  // reason it could not start (exec errno, bad cwd, ...). Any thread.
  absl::StatusOr<pid_t> launch(LaunchSpec spec);
  // SIGTERM to the job's process group(s) now, SIGKILL after `grace` (0 = the
  // default SupervisorOptions::cancel_grace). NotFound if no worker of that
  // job is running. Any thread.
  absl::Status cancel(const std::string& job_id,
                      std::chrono::milliseconds grace = std::chrono::milliseconds(0));
  // The same for one worker process (a job's task worker), whatever its job.
  // Asynchronous (an event loop may call it): a pid that is not running is
  // ignored. Any thread.
  void stop_worker(pid_t pid, std::chrono::milliseconds grace = std::chrono::milliseconds(0));
  // Pids of running workers (for tests and the worker socket's peer check).
  std::vector<pid_t> pids_of(const std::string& job_id) const;
  std::size_t running() const;

  static constexpr std::chrono::milliseconds kPausedPollInterval{20};

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Human description of a wait(2) status: "exited with code N" / "killed by
// signal N (Name)".
std::string describe_wait_status(int status);

}  // namespace skein::node
