// CoordinatorClient: the agent's side of the NodeGateway protocol
// (proto/skein/v1/node.proto).
//
// Session model. One session thread loops: Register (once per node identity)
// -> Connect stream -> ... -> stream ends -> back off -> Connect again.
//   - While a stream is up, the session thread is its only writer: it sends
//     the ConnectHello, a Heartbeat every heartbeat period (load + the latest
//     scheduler stats of every worker here) and the queued JobEvents and
//     LogChunks. A reader thread per stream dispatches StartJob / CancelJob /
//     Shutdown to the agent's handlers (which must not block: StartJob fetches
//     a binary, so the agent hands it to its own thread).
//   - A stream that breaks (coordinator restart, network) is re-opened with
//     the same node id and epoch, with exponential backoff (kMinBackoff ..
//     kMaxBackoff). If the coordinator answers FAILED_PRECONDITION or
//     NOT_FOUND, this node was declared dead (or forgotten): the agent is told
//     (node_lost: kill its workers, as the protocol requires) and registers
//     again as a new node.
//
// Task path. TaskBatches and ResultBatches (docs/wire.md "Task dispatch") go
// through their own queue, so a log flood cannot hold them up, and the writer
// alternates between the two queues. Batching is adaptive: an idle writer is
// woken at once (task traffic never waits for the heartbeat period); what
// arrives while a Write is in flight is merged into a queued message of the
// same kind, job and owner (at most kMaxBatchEntries entries and about
// kMaxBatchBytes per message), so a busy stream carries fewer, fuller
// messages. A task message whose Write failed goes back to the front of the
// queue and is re-sent on the next stream; so are those written in the last
// kResendWindow (up to kResendBytes), since a successful Write only means the
// transport took it (duplicates are harmless, losses are not). The queue is
// bounded in estimated memory (max_queued_task_bytes; wire bytes plus
// kEntryMemoryBytes per entry): tasks_ready() turns false at the bound, and
// the worker socket stops reading workers. Incoming TaskBatch / ResultBatch
// go to the tasks / results handlers. DistWaitGroup deltas (WaitGroupDeltaBatch)
// ride the same queue and merge the same way, but are neither kept for a
// resend nor re-queued after a failed Write: a duplicate delta would count
// twice at the group's owner, so they are delivered at most once. Incoming
// ones go to the wg_deltas handler.
//
// Outbox. JobEvents and LogChunks share one FIFO, so a job's output always
// precedes its exit event (the coordinator ends followed log streams at the
// exit). Events are never dropped: one whose write failed waits for the next
// stream. LogChunks are bounded in bytes (max_queued_log_bytes): logs_ready()
// turns false at the bound, which makes the worker supervisor stop reading
// pipes (backpressure to the worker) instead of buffering without limit.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "agent/binary_cache.hpp"
#include "skein/common/auth.hpp"
#include "skein/v1/node.grpc.pb.h"

namespace grpc {
class ClientContext;
}

namespace skein::node {

struct CoordinatorClientOptions {
  std::string address;  // "host:port" of skein-coordinator
  AuthConfig auth;
  skein::v1::Resources resources;
  std::string hostname;
  // Written (atomically) with "<node id>\n" after every registration, so a
  // launcher without credentials to ask the coordinator (`skein join`) knows
  // the agent is in. Empty: none.
  std::string ready_file;
  // Heartbeat period; 0 = the coordinator's. Never longer than the
  // coordinator's (that would get this node declared dead).
  std::chrono::milliseconds heartbeat{0};
  std::size_t max_queued_log_bytes = 4 << 20;
  std::size_t max_queued_task_bytes = std::size_t{32} << 20;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  std::chrono::milliseconds rpc_deadline{5000};
};

struct CoordinatorHandlers {
  std::function<void(const skein::v1::StartJob&)> start_job;
  std::function<void(const skein::v1::CancelJobCommand&)> cancel_job;
  std::function<void(const std::string& reason)> shutdown;
  // The coordinator no longer knows this node: kill every worker.
  std::function<void(const std::string& why)> node_lost;
  // Heartbeat contents (load and per-worker stats); seq is filled in here.
  std::function<skein::v1::Heartbeat()> heartbeat;
  // A registration the coordinator refused for good (wrong token, refused
  // TLS): retrying cannot help, the agent should exit with this error.
  std::function<void(const absl::Status&)> fatal;
  // Jobs with live workers here, for ConnectHello after a reconnect.
  std::function<std::vector<std::uint64_t>()> running_jobs;
  // Tasks placed on this node / outcomes for owners on this node (reader
  // thread; may wait briefly for a worker to make room, never indefinitely).
  std::function<void(skein::v1::TaskBatch)> tasks;
  std::function<void(skein::v1::ResultBatch)> results;
  // DistWaitGroup deltas for group owners on this node (reader thread).
  std::function<void(skein::v1::WaitGroupDeltaBatch)> wg_deltas;
};

class CoordinatorClient {
 public:
  CoordinatorClient(CoordinatorClientOptions options, CoordinatorHandlers handlers);
  ~CoordinatorClient();  // stop()
  CoordinatorClient(const CoordinatorClient&) = delete;
  CoordinatorClient& operator=(const CoordinatorClient&) = delete;

  // Builds the channel (the bind/TLS policy may refuse the address) and
  // starts the session thread.
  absl::Status start();
  void stop();
  // New credentials (a renewed node certificate) for every call from now
  // on; calls in progress finish on the old channel.
  absl::Status reload_credentials(const AuthConfig& auth);

  void send_event(skein::v1::JobEvent event);
  // Whether another LogChunk may be queued now.
  bool logs_ready() const;
  void send_log(skein::v1::LogChunk chunk);

  // Task path (any thread; never blocks). Spawns from workers here, owner
  // filled in; outcomes of tasks run here (or lost here).
  void send_tasks(skein::v1::TaskBatch batch);
  void send_results(skein::v1::ResultBatch batch);
  // DistWaitGroup deltas from a worker here, job_id filled in. They share
  // the task queue (ordered with the sender's other task traffic) but, not
  // being idempotent, are never re-sent after a broken stream: at most once.
  void send_wg_deltas(skein::v1::WaitGroupDeltaBatch batch);
  // Whether more task traffic may be queued now.
  bool tasks_ready() const;
  // Task messages written so far / merged into a queued message.
  std::uint64_t task_messages_written() const { return task_writes_.load(); }
  std::uint64_t task_batches_merged() const { return task_merges_.load(); }

  std::uint64_t task_messages_resent() const { return task_resends_.load(); }

  static constexpr int kMaxBatchEntries = 1024;
  static constexpr std::size_t kMaxBatchBytes = std::size_t{1} << 20;
  // Written task messages kept for a resend after a broken stream: a
  // stream's flow-control window is at most a few MiB, and a live
  // coordinator reads what it was sent within far less than a second.
  static constexpr std::size_t kResendBytes = std::size_t{2} << 20;
  static constexpr std::chrono::milliseconds kResendWindow{2000};

  // Streams a stored binary (FetchBinary) into sink, checking chunk offsets.
  absl::Status fetch_binary(const std::string& sha256, std::uint64_t size,
                            const BinaryCache::ChunkSink& sink);

  // Waits until everything queued has been written to a stream (or the
  // timeout passes, or no stream is up). For an orderly shutdown.
  bool flush(std::chrono::milliseconds timeout);

  std::string node_id() const;
  bool connected() const { return connected_.load(); }
  // Waits until the first stream is acknowledged; false on timeout.
  bool wait_connected(std::chrono::milliseconds timeout);

 private:
  absl::Status do_register();
  absl::Status run_stream();
  void sleep_backoff(std::chrono::milliseconds d);
  void session_loop();
  // mu_ held. Appends a task message, merging it into a queued one when it can.
  void enqueue_task_locked(skein::v1::AgentMessage m, std::size_t entries, std::size_t bytes);
  void wake_writer_locked();

  struct QueuedTask {
    skein::v1::AgentMessage msg;  // tasks, results or wg_deltas
    std::size_t entries = 0;
    std::size_t bytes = 0;
  };
  // What a parsed task or result costs in memory beyond its wire bytes
  // (message object, string headers, allocator overhead; measured order of
  // magnitude): the queue bound is on memory, not on wire size.
  static constexpr std::size_t kEntryMemoryBytes = 256;
  static std::size_t memory_cost(const QueuedTask& q) {
    return q.bytes + q.entries * kEntryMemoryBytes;
  }
  using Clock = std::chrono::steady_clock;
  // Task messages written on the current stream in the last kResendWindow,
  // at most kResendBytes (oldest dropped first): what a broken stream may
  // have lost in its buffers. Kept serialized: a parsed batch takes several
  // times its wire size in memory. Session thread only.
  class RecentWrites {
   public:
    void remember(const QueuedTask& q, Clock::time_point now);
    std::vector<QueuedTask> take(Clock::time_point now);

   private:
    struct Written {
      Clock::time_point when;
      std::string wire;  // a serialized AgentMessage
      std::size_t entries = 0;
    };
    void trim(Clock::time_point now);
    std::deque<Written> items_;
    std::size_t bytes_ = 0;  // sum of wire sizes
  };

  CoordinatorClientOptions options_;
  CoordinatorHandlers handlers_;
  struct Connection {
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<skein::v1::NodeGateway::Stub> stub;
  };
  absl::StatusOr<Connection> make_stub(const AuthConfig& auth) const;
  std::shared_ptr<skein::v1::NodeGateway::Stub> stub() const;
  // Blocks (bounded, and never past `fence_at`) until the channel is READY,
  // driving its connection.
  absl::Status wait_connected(std::chrono::steady_clock::time_point fence_at) const;
  // When this node, out of contact, must consider itself dead (max() while
  // unregistered).
  std::chrono::steady_clock::time_point fence_time() const;
  mutable std::mutex stub_mu_;
  Connection stub_;  // GUARDED_BY(stub_mu_)
  std::thread session_;
  std::atomic<bool> connected_{false};

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stop_ = false;
  grpc::ClientContext* active_ = nullptr;  // stream context, for TryCancel on stop
  std::string node_id_;
  std::uint64_t epoch_ = 0;
  std::chrono::milliseconds period_{1000};
  // Self-fencing: out of contact this long (since last_contact_: the
  // registration, or the end of the last stream that was connected) means
  // declared dead. 0 until registered.
  std::chrono::milliseconds fence_after_{0};
  std::chrono::steady_clock::time_point last_contact_{};
  std::deque<skein::v1::AgentMessage> outbox_;  // events and logs, in order
  std::size_t log_bytes_ = 0;                   // bytes of LogChunks in outbox_
  std::deque<QueuedTask> task_out_;             // tasks and results, mergeable
  std::size_t task_bytes_ = 0;                  // sum of memory_cost(task_out_[i])
  bool writer_idle_ = false;                    // the writer waits on cv_
  std::atomic<std::uint64_t> task_writes_{0};
  std::atomic<std::uint64_t> task_merges_{0};
  std::atomic<std::uint64_t> task_resends_{0};
};

}  // namespace skein::node
