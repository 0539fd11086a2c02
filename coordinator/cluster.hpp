// Cluster: the coordinator's state machine — membership, the job table, the
// binary and log stores and the journal — behind one mutex, with the
// operations the gRPC services call. Services stay thin (STYLE habit 15):
// they validate the shape of a request, call one Cluster method and turn its
// absl::Status into a grpc::Status.
//
// Durability rule: a state change is journaled (fsync'd) before the call that
// caused it returns OK, so an acknowledged submit survives a crash. Tasks are
// the exception by design: they are never journaled (the hot path), so a
// coordinator restart forgets the tasks in flight (their owners' deadlines and
// the job's own fate decide what happens to them).
//
// Task dispatch (docs/wire.md "Task dispatch", role "Coordinator"): an
// AgentMessage.tasks batch is validated (job RUNNING, function listed), each
// task placed (task_placer.hpp) against a per-batch view of the attached live
// nodes, recorded in flight (task_table.hpp), and forwarded as one
// CoordinatorMessage.tasks per target node; refusals go back to the owner's
// node in one ResultBatch. Results clear the record and are forwarded to the
// owner's node. DistWaitGroup deltas (AgentMessage.wg_deltas) go to the
// node of the group's owner under the same checks as results, and are not
// recorded anywhere. A node's death fails its tasks to their owners (kNodeLost);
// a job's end forgets its tasks and cancels its workers on every node.
//
// Concurrency and lock order:
//   - mu_ guards every member below it. Methods hold it only for in-memory
//     work, journal appends and queueing messages; never across an RPC.
//   - NodeSession::send/send_owned/close/take_unsent are called with mu_
//     held; implementations only take their own lock and must never call back
//     into Cluster. So the order is Cluster::mu_ -> session lock.
//   - JobWatcher::notify is called with mu_ *released*; a watcher may call
//     Cluster from its own lock (order: watcher lock -> Cluster::mu_).
//   - BinaryStore and LogStore are thread-safe on their own and are used
//     without mu_ for bulk data (uploads, log reads).
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "binary_store.hpp"
#include "job_output.hpp"
#include "job_table.hpp"
#include "journal.hpp"
#include "log_store.hpp"
#include "membership.hpp"
#include "skein/v1/coordinator.pb.h"
#include "skein/v1/node.pb.h"
#include "task_placer.hpp"
#include "task_table.hpp"

namespace skein::coordinator {

struct ClusterConfig {
  std::string data_dir;
  MembershipConfig membership;
  uint64_t max_binary_bytes = uint64_t{512} << 20;
  uint64_t max_log_bytes_per_job = uint64_t{64} << 20;
  uint32_t cancel_grace_ms = 5000;  // SIGTERM -> SIGKILL grace the agent applies on cancel
  // After a restart, nodes alive before it may reconnect under their old
  // identity this long and keep their running jobs (RELIABILITY R5). 0 = the
  // first-version behaviour: every known node is dead and in-flight jobs fail.
  std::chrono::milliseconds recovery_window{30000};
};

// The coordinator's end of one agent's Connect stream.
class NodeSession {
 public:
  virtual ~NodeSession() = default;
  // Queues a message for the agent. Any thread; never calls into Cluster.
  virtual void send(const v1::CoordinatorMessage& msg) = 0;
  // Same, but may take the message's contents instead of copying them (task
  // and result batches carry argument and result bytes). Default: copies.
  virtual void send_owned(v1::CoordinatorMessage&& msg) { send(msg); }
  // Ends the stream with `status` once queued messages are written.
  // Idempotent. Any thread; never calls into Cluster.
  virtual void close(const grpc::Status& status) = 0;
  // Once the stream is over: the messages queued on it that were never
  // written (or whose write failed), oldest first; empty before that.
  virtual std::vector<v1::CoordinatorMessage> take_unsent() { return {}; }
};

// Someone following a job (a StreamLogs call): told when the job has new log
// data or a new state. Called without Cluster's lock held.
class JobWatcher {
 public:
  virtual ~JobWatcher() = default;
  virtual void notify() = 0;
};

class Cluster {
 public:
  // Opens the data directory, replays the journal and compacts it. With a
  // recovery window, nodes alive before the restart stay ALIVE until the
  // window ends and keep their jobs if their agents reconnect (Connect with
  // the old id reconciles hello.running_job_ids); otherwise they die and their
  // jobs fail "driver node ... lost". With recovery_window == 0 every known node
  // comes back DEAD and in-flight jobs become FAILED "coordinator restarted
  // while the job ran" at once.
  // FAILED_PRECONDITION if another coordinator holds <data_dir>/lock.
  static absl::StatusOr<std::unique_ptr<Cluster>> open(ClusterConfig config);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // --- CLI-facing (Coordinator service) ---
  struct Submitted {
    v1::JobInfo job;
    bool deduplicated = false;
  };
  absl::StatusOr<Submitted> submit(const v1::SubmitJobRequest& req);
  absl::StatusOr<v1::JobInfo> get_job(uint64_t job_id) const;
  std::vector<v1::JobInfo> list_jobs(const std::vector<v1::JobState>& states, uint32_t limit) const;
  absl::StatusOr<v1::JobInfo> cancel_job(uint64_t job_id, const std::string& reason);
  std::vector<v1::NodeInfo> list_nodes(bool include_dead) const;
  v1::GetStatsResponse stats() const;
  // Tells every connected agent to shut down.
  void shutdown_nodes(const std::string& reason);

  BinaryStore& binaries() { return *binaries_; }
  const LogStore& logs() const { return *logs_; }

  // A job as a log follower sees it: `more_output` is true while the job is
  // terminal but some node that ran it may still send output (job_output.hpp).
  // Read before the stored log: once a terminal job has !more_output, every
  // chunk of it is in logs().
  struct LogView {
    v1::JobInfo job;
    bool more_output = false;
  };
  absl::StatusOr<LogView> log_view(uint64_t job_id);

  void add_watcher(uint64_t job_id, std::shared_ptr<JobWatcher> watcher);
  void remove_watcher(uint64_t job_id, const JobWatcher* watcher);

  // --- agent-facing (NodeGateway service) ---
  // `identity` is the agent's certificate name ("" for a token-mode agent);
  // only that certificate may speak for the node afterwards.
  absl::StatusOr<v1::RegisterResponse> register_node(const v1::RegisterRequest& req,
                                                     const std::string& identity = "");
  // The certificate name `node_id` registered with; NOT_FOUND if unknown.
  absl::StatusOr<std::string> node_identity(const std::string& node_id) const;
  // Declares dead, now, the node `node_or_identity` names: a node id, or
  // every live node registered under that certificate name. Returns the
  // identity (certificate name; "" for a token-mode node). NOT_FOUND if
  // nothing matches.
  absl::StatusOr<std::string> remove_node(const std::string& node_or_identity,
                                          const std::string& reason);
  // Binds a Connect stream to a live node: sends the ack, reconciles the
  // node's jobs with hello.running_job_ids, dispatches pending work.
  // FAILED_PRECONDITION / NOT_FOUND for a dead or unknown node.
  absl::Status attach(const v1::ConnectHello& hello, std::shared_ptr<NodeSession> session);
  // The stream ended; the node stays ALIVE until its heartbeats time out.
  // Task, result, StartJob and CancelJob messages the stream never wrote
  // (session->take_unsent()) go to the node's newer stream if it has one,
  // else wait for its next Connect (dropped if it dies first).
  void detach(const std::string& node_id, NodeSession* session);
  // One message after the hello. FAILED_PRECONDITION: the node is dead and
  // the stream must end; INVALID_ARGUMENT: malformed message.
  absl::Status on_agent_message(const std::string& node_id, uint64_t epoch,
                                const v1::AgentMessage& msg);
  // Same; task and result batches are moved out of *msg instead of copied.
  absl::Status on_agent_message(const std::string& node_id, uint64_t epoch, v1::AgentMessage* msg);

  // Task dispatch counters and the in-flight table's footprint.
  struct TaskStats {
    size_t in_flight = 0;
    size_t table_bytes = 0;        // TaskTable::bytes(): exact heap cost of the in-flight records
    uint64_t placed = 0;           // tasks forwarded to a node
    uint64_t refused = 0;          // answered at once: kCanceled / kUnknownFunction / kUnplaceable
    uint64_t malformed = 0;        // dropped: task_id 0, foreign owner
    uint64_t results = 0;          // results forwarded to their owner's node
    uint64_t results_dropped = 0;  // job over, owner's node gone
    uint64_t node_lost = 0;        // kNodeLost results sent for dead nodes
    uint64_t wg_deltas = 0;        // DistWaitGroup deltas forwarded to the group owner's node
    uint64_t wg_deltas_dropped = 0;  // job over or unknown, owner's node unknown or gone
    uint64_t parked = 0;             // messages held for a detached live node
    uint64_t parked_dropped = 0;     // ... dropped: the node died, or over the cap
  };
  TaskStats task_stats() const;
  // Tasks this coordinator has placed on `node_id` with no result yet.
  int64_t tasks_in_flight_on(const std::string& node_id) const;

  // --- failure detector ---
  // Declares silent nodes dead and fails their jobs. Called periodically.
  void tick(SteadyTime now);

  const ClusterConfig& config() const { return config_; }

 private:
  explicit Cluster(ClusterConfig config);

  using Watchers = std::vector<std::shared_ptr<JobWatcher>>;

  absl::Status journal_job_locked(const v1::JobInfo& job);
  void journal_job_or_log_locked(const v1::JobInfo& job);
  Watchers watchers_locked(uint64_t job_id) const;
  void send_start_locked(const v1::JobInfo& job);
  void send_cancel_locked(const v1::JobInfo& job);
  // Places every unplaced PENDING job on the least-loaded live node.
  void place_pending_locked(Watchers* notify);
  // Least-loaded among live nodes whose agent stream is attached.
  std::optional<std::string> choose_node_locked() const;
  void node_died_locked(const v1::NodeInfo& node, Watchers* notify);
  absl::Status on_job_event_locked(const std::string& node_id, const v1::JobEvent& ev,
                                   Watchers* notify);
  // A LogChunk from an agent: labelled with the node, stored, or (marker)
  // closes the node's output of the job.
  absl::Status on_log_locked(const std::string& node_id, v1::LogChunk* chunk, Watchers* notify);

  // --- task dispatch (REQUIRES(mu_)) ---
  // What the coordinator keeps per RUNNING job that spawned tasks.
  struct JobDispatch {
    // JobInfo.remote_functions as a set, built on the job's first batch.
    absl::flat_hash_set<std::string> functions;
    bool functions_known = false;
    std::vector<NodeIndex> worker_nodes;  // sent StartJob{driver: false}; never duplicated
    uint32_t spread_cursor = 0;           // task_placer's round-robin position
  };
  NodeIndex node_index_locked(const std::string& node_id);
  JobDispatch& dispatch_locked(const v1::JobInfo& job);
  // Fills view_ / view_slots_ with the attached live nodes.
  void build_view_locked();
  void on_tasks_locked(const std::string& node_id, v1::TaskBatch* batch);
  void on_results_locked(const std::string& node_id, v1::ResultBatch* batch);
  void on_wg_deltas_locked(v1::WaitGroupDeltaBatch* batch);
  // Every task in flight on `node` goes back to its owner as kNodeLost.
  void fail_tasks_on_node_locked(const v1::NodeInfo& node);
  // A job became terminal: forget its tasks, end its workers on every node.
  void job_changed_locked(const v1::JobInfo& job);
  void send_start_worker_locked(const v1::JobInfo& job, const std::string& node_id,
                                NodeSession* session);
  // To the node's stream if attached; parked for its next stream if it is
  // alive but detached (bounded); dropped if it is dead. False if dropped.
  bool send_to_node_locked(const std::string& node_id, v1::CoordinatorMessage&& msg);

  const ClusterConfig config_;
  int lock_fd_ = -1;                       // flock'd <data_dir>/lock, held for life
  std::unique_ptr<BinaryStore> binaries_;  // thread-safe, immutable pointer
  std::unique_ptr<LogStore> logs_;         // thread-safe, immutable pointer

  mutable std::mutex mu_;
  std::unique_ptr<Journal> journal_;                               // GUARDED_BY(mu_)
  Membership membership_;                                          // GUARDED_BY(mu_)
  JobTable jobs_;                                                  // GUARDED_BY(mu_)
  std::map<std::string, std::shared_ptr<NodeSession>> sessions_;   // GUARDED_BY(mu_)
  std::multimap<uint64_t, std::shared_ptr<JobWatcher>> watchers_;  // GUARDED_BY(mu_)
  JobOutput output_;                                               // GUARDED_BY(mu_)

  // Task dispatch, all GUARDED_BY(mu_). Node ids are interned once (ids are
  // never reused, so the table only grows by one entry per registration).
  absl::flat_hash_map<std::string, NodeIndex> node_index_;
  std::vector<std::string> node_names_;  // NodeIndex -> node id
  absl::flat_hash_map<uint64_t, JobDispatch> dispatch_;
  TaskTable tasks_;
  TaskStats task_counters_;
  // Messages for live nodes whose stream is down, in order, re-sent on their
  // next attach. Invariant: only ALIVE nodes without a session have an entry.
  struct Parked {
    std::vector<v1::CoordinatorMessage> msgs;
    size_t bytes = 0;  // ByteSizeLong() sum; capped at kMaxParkedBytes
  };
  std::map<std::string, Parked> parked_;
  // Per-batch scratch, kept to avoid allocating on every batch.
  struct ViewSlot {
    NodeIndex index;
    NodeSession* session;
  };
  std::vector<PlacerNode> view_;
  std::vector<ViewSlot> view_slots_;
  std::vector<v1::Task*> extract_;
};

int64_t now_unix_ms();

}  // namespace skein::coordinator
