// TaskHost: the "target agent" role of task dispatch (docs/wire.md "Task
// dispatch"): runs tasks the coordinator placed on this node in the job's
// task worker, started on demand.
//
// Model. Per job this node was told about (StartJob{driver:false}, or a
// driver start), a binary state (fetching -> ready | failed) and at most one
// current task worker. A worker moves
//     launching --hello--> up --socket closed--> gone
//         \________________________\________________exit--> (removed)
// Tasks for a job:
//   - unknown job, failed binary        -> kWorkerLost results at once, saying why
//                                          (a failed binary is fetched again when
//                                          tasks come kDefaultRefetchAfter later);
//   - no current worker                 -> a new one (launched on the launcher
//                                          thread once the binary is ready);
//   - worker launching                  -> buffered until its hello, then sent;
//   - worker up                         -> sent to its connection.
// Every accepted task is in the TaskLedger under the worker's slot until its
// result passes through; when the worker exits (or fails to launch), what is
// left goes back as kWorkerLost with the reason ("worker pid 812 on node n2
// killed by signal 9 (Killed)"), and the next batch starts a fresh worker.
// A worker whose socket closes while its process lives is stopped, so its
// exit (and thus the loss report) always follows.
//
// Threads: tasks() on the coordinator stream's reader; hello/results/gone on
// the worker socket's loop thread (must not block: to_worker never waits
// there); exited() on the supervisor thread; launches on an own thread,
// because a fork/exec round trip must not stall either loop. One mutex guards
// the state; no dependency is called while holding it except to_worker from
// the loop thread (non-blocking by contract).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/task_ledger.hpp"
#include "agent/worker_server.hpp"
#include "skein/v1/task.pb.h"
#include "skein/v1/worker.pb.h"

namespace skein::node {

struct TaskHostDeps {
  // Starts the job's task worker (blocking fork/exec). on_started runs with
  // its pid before the worker can report anything.
  std::function<absl::StatusOr<pid_t>(std::uint64_t job_id, std::function<void(pid_t)> on_started)>
      launch;
  // Sends to a worker connection; may wait for room (never on the loop thread).
  std::function<absl::Status(std::uint64_t worker_id, const skein::v1::AgentToWorker&)> to_worker;
  // Results this host decided (kWorkerLost), up to the coordinator.
  std::function<void(skein::v1::ResultBatch)> to_coordinator;
  // Ends one worker process (SIGTERM, then SIGKILL); its exit comes later.
  std::function<void(pid_t)> stop_worker;
  // A system line for the job's log (no prefix; ends with a newline).
  std::function<void(std::uint64_t job_id, const std::string& line)> log;
  std::function<std::string()> node_id;
  // Fetch the job's binary again after a failure (optional): calls ready()
  // or failed() when done.
  std::function<void(std::uint64_t job_id)> refetch;
};

class TaskHost {
 public:
  // Tasks buffered for one worker before its hello, at most (estimated
  // memory). A worker says hello within tens of milliseconds of its start.
  static constexpr std::size_t kDefaultMaxPendingBytes = std::size_t{32} << 20;
  // A binary that could not be fetched is tried again when tasks arrive this
  // long after the failure (a coordinator restart, a full disk being
  // cleaned): refusing a job's tasks here for good would make owners count
  // them as lost until they give up.
  static constexpr std::chrono::milliseconds kDefaultRefetchAfter{5000};

  explicit TaskHost(TaskHostDeps deps, std::size_t max_pending_bytes = kDefaultMaxPendingBytes,
                    std::chrono::milliseconds refetch_after = kDefaultRefetchAfter);
  ~TaskHost();  // stop()
  TaskHost(const TaskHost&) = delete;
  TaskHost& operator=(const TaskHost&) = delete;

  // Job lifecycle (any thread). expect: the job's binary is being fetched;
  // tasks wait for it. ready: workers may start. failed: tasks are refused
  // with `why`. forget: the job ended here; later tasks are refused. Returns
  // false from expect() if the job is already known (a repeated StartJob).
  bool expect(std::uint64_t job_id);
  void ready(std::uint64_t job_id);
  void failed(std::uint64_t job_id, const std::string& why);
  void forget(std::uint64_t job_id, const std::string& why);
  bool knows(std::uint64_t job_id) const;

  // Tasks placed on this node (coordinator reader thread).
  void tasks(skein::v1::TaskBatch batch);
  // Worker socket events (loop thread). hello returns true if the connection
  // is one of this host's task workers.
  bool hello(const WorkerInfo& w);
  void results(const WorkerInfo& w, const skein::v1::ResultBatch& batch);
  void gone(const WorkerInfo& w);
  // A worker process exited (supervisor thread); true if it was a task worker.
  bool exited(std::uint64_t job_id, pid_t pid, const std::string& description);

  std::size_t in_flight() const;
  // Jobs with a live task worker process here.
  std::vector<std::uint64_t> jobs_with_workers() const;
  void stop();

 private:
  enum class Binary { kFetching, kReady, kFailed };
  enum class State { kLaunching, kUp, kGone };
  struct Job {
    Binary binary = Binary::kFetching;
    std::string failure;
    std::chrono::steady_clock::time_point failed_at;
    std::uint64_t current = 0;  // slot of the current worker, 0 = none
  };
  struct Worker {
    std::uint64_t job_id = 0;
    State state = State::kLaunching;
    bool launch_queued = false;
    pid_t pid = 0;
    std::uint64_t worker_id = 0;
    std::vector<skein::v1::TaskBatch> pending;  // until the hello
    std::size_t pending_bytes = 0;
    std::string note;  // why it was stopped, if we stopped it
  };

  void launcher_loop();
  void launch_one(std::uint64_t slot);
  void queue_launch_locked(std::uint64_t slot, Worker& w);
  // Fails everything of a slot and removes its worker (mu_ held); the
  // returned results go up once mu_ is released.
  std::vector<skein::v1::ResultBatch> lose_slot_locked(std::uint64_t slot, const std::string& why,
                                                       const std::string& node_id);
  void send_up(std::vector<skein::v1::ResultBatch> batches);
  std::string node() const;

  TaskHostDeps deps_;
  std::size_t max_pending_bytes_;
  std::chrono::milliseconds refetch_after_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::uint64_t, Job> jobs_;
  std::map<std::uint64_t, std::string> ended_;      // job -> why it ended here
  std::map<std::uint64_t, Worker> workers_;         // by slot
  std::map<std::uint64_t, std::uint64_t> by_conn_;  // worker_id -> slot
  std::uint64_t next_slot_ = 1;
  std::deque<std::uint64_t> launches_;  // slots to launch
  TaskLedger ledger_;
  std::thread launcher_;
};

}  // namespace skein::node
