// NodeAgent: the composition root of skein-node.
//
// Wiring (start order; stop runs in reverse):
//   1. work directory (0700): cache/, jobs/<job_id>/, agent.sock
//   2. WorkerSupervisor: forks and watches workers; its OutputSink is the
//      agent, which writes each job's bounded local log and queues LogChunks
//   3. TaskHost: the job's task workers on this node (started on demand) and
//      the tasks in flight in them
//   4. WorkerServer: the workers' Unix socket (hello, stats samples, task
//      and result frames both ways)
//   5. CoordinatorClient: register, Connect stream (heartbeats carry load and
//      the workers' latest stats), StartJob/CancelJob/Shutdown commands, and
//      the task/result relay
// A StartJob is handled on its own thread: fetch the binary into the cache
// (verified), then launch the driver (driver: true) or just remember the job
// so its task worker can start when tasks arrive (driver: false).
//
// Task dispatch (docs/wire.md "Task dispatch"), as the owner's agent:
// TaskBatches from any worker go up with the owner filled in (WorkerServer);
// ResultBatches from the coordinator go to the owner's connection by
// worker_id (dropped and counted if it is gone). DistWaitGroup deltas take
// the same two paths (docs/wire.md "Wait groups"): up from any worker with
// job_id filled in, down to the group owner's connection by worker_id
// (dropped and counted if gone). As the target agent: see
// task_host.hpp. Only the driver's exit is a JobEvent; a task worker's exit
// is a system line in the job's log when tasks were lost with it. Output of
// every process goes up labelled, then one end_of_output per job once the
// job ended here and its last process exited (docs/wire.md "Logs").
// run() blocks until SIGTERM/SIGINT or a Shutdown
// command, then stops everything; no worker outlives the agent (the
// supervisor kills them, and PDEATHSIG covers a crash of the agent itself).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/agent_config.hpp"
#include "agent/binary_cache.hpp"
#include "agent/bootstrap.hpp"
#include "agent/coordinator_client.hpp"
#include "agent/job_log.hpp"
#include "agent/load_reporter.hpp"
#include "agent/task_host.hpp"
#include "agent/worker_server.hpp"
#include "agent/worker_supervisor.hpp"
#include "wire/unique_fd.hpp"

namespace skein::node {

class NodeAgent : private OutputSink {
 public:
  explicit NodeAgent(AgentConfig config);
  ~NodeAgent() override;

  // Runs until a signal or a Shutdown command. Returns the startup error if
  // the agent could not start (bad token file, unusable work dir, ...).
  absl::Status run();
  // Asks run() to return. Any thread, async-signal-unsafe.
  void request_stop();

 private:
  // OutputSink (supervisor thread).
  bool ready(const std::string& job_id) override;
  void output(const std::string& job_id, pid_t pid, OutputStream stream,
              std::string_view data) override;
  void exited(const WorkerExit& exit) override;

  absl::Status start();
  void stop();
  void on_start_job(const skein::v1::StartJob& cmd);
  void start_job(skein::v1::StartJob cmd);
  // Fetches a job's binary for task workers only (StartJob{driver: false}).
  void prepare_task_job(skein::v1::StartJob cmd);
  // Remembers how to start the job's task workers (binary fd kept open).
  void remember_job(const skein::v1::StartJob& cmd, const UniqueFd& exe,
                    const std::string& job_dir);
  void spawn_starter_locked(std::function<void()> fn);
  absl::StatusOr<pid_t> launch_task_worker(std::uint64_t job_id,
                                           std::function<void(pid_t)> on_started);
  void route_results(skein::v1::ResultBatch batch);
  void route_wg_deltas(skein::v1::WaitGroupDeltaBatch batch);
  // Sends m (n entries) to the owner's connection here, or counts them in
  // `dropped` and says why in the log.
  void deliver_to_owner(const skein::v1::TaskOwner& owner, const skein::v1::AgentToWorker& m,
                        std::size_t n, std::atomic<std::uint64_t>& dropped, const char* what);
  void log_system(std::uint64_t job_id, const std::string& line);
  // The job has ended on this node (its driver exited here, or CancelJob):
  // once its last process here has exited, end_of_output goes up.
  void job_ended_here(std::uint64_t job_id);
  // Queues end_of_output if the job ended here and none of its processes is
  // left (logs_mu_ held).
  void end_output_if_done_locked(std::uint64_t job_id);
  void on_cancel_job(const skein::v1::CancelJobCommand& cmd);
  void on_node_lost(const std::string& why);
  skein::v1::Heartbeat heartbeat();
  std::vector<std::uint64_t> running_job_ids();
  std::vector<std::string> worker_env(std::uint64_t job_id, const std::string& job_dir,
                                      bool driver) const;
  void fail_to_start(std::uint64_t job_id, const absl::Status& why);

  // poll() timeout in ms until the node certificate is due for renewal (-1:
  // no certificate); renews it when due.
  int renew_certificate_due();

  AgentConfig config_;
  std::optional<BootstrapConfig> bootstrap_;    // certificate mode only
  std::optional<NodeCredentials> credentials_;  // certificate mode only
  std::chrono::system_clock::time_point next_renewal_try_{};
  std::string jobs_dir_;
  UniqueFd wake_;  // eventfd: request_stop() -> run()
  std::mutex fatal_mu_;
  absl::Status fatal_;  // why run() must fail, set before request_stop()

  std::unique_ptr<BinaryCache> cache_;
  std::unique_ptr<WorkerSupervisor> supervisor_;
  std::unique_ptr<WorkerServer> server_;
  std::unique_ptr<CoordinatorClient> client_;
  LoadReporter load_;

  // How to start a job's task worker: what its driver gets, minus main().
  struct JobTemplate {
    UniqueFd exe;  // verified binary; dup'ed for each launch
    std::vector<std::string> argv;
    std::string job_dir;
  };

  std::mutex logs_mu_;  // guards the members below (supervisor thread, task launcher)
  std::map<std::string, std::unique_ptr<JobLog>> logs_;
  // Output of every process of a job reaches the coordinator, labelled, and
  // is followed by one LogChunk{end_of_output} once the job has ended here
  // and its last process here exited (docs/wire.md "Logs"). Invariants:
  // live_[j] = processes of j launched and not yet reported exited (so all
  // their output passed through output()); an entry is erased at 0.
  // drivers_[j] = pid of j's driver here while it runs. ended_here_ holds
  // the newest kMaxEndedJobs jobs that ended here.
  std::map<std::uint64_t, int> live_;
  std::map<std::uint64_t, pid_t> drivers_;
  std::set<std::uint64_t> ended_here_;
  std::atomic<std::uint64_t> dropped_results_{0};    // owner connection gone
  std::atomic<std::uint64_t> dropped_wg_deltas_{0};  // group owner's connection gone

  std::mutex mu_;                         // guards the members below
  std::set<std::uint64_t> starting_;      // StartJob being fetched/launched
  std::set<std::uint64_t> running_;       // driver launched, not yet exited
  std::set<std::uint64_t> cancel_early_;  // cancelled while starting
  std::map<std::uint64_t, JobTemplate> templates_;
  // StartJob{driver: false} whose binary could not be had, for a refetch.
  std::map<std::uint64_t, skein::v1::StartJob> failed_fetches_;
  struct Starter {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Starter> starters_;
  bool stopping_ = false;

  // Last: destroyed first (its launcher thread uses the members above).
  std::unique_ptr<TaskHost> tasks_;
};

}  // namespace skein::node
