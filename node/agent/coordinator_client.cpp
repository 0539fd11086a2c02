#include "agent/coordinator_client.hpp"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "skein/common/keepalive.hpp"
#include "skein/common/log.hpp"
#include "skein/common/pki.hpp"
#include "skein/common/status.hpp"

namespace skein::node {
namespace {

using Clock = std::chrono::steady_clock;

// A stream that stayed up this long was healthy: the next failure starts the
// backoff from the minimum again.
constexpr auto kHealthyStream = std::chrono::seconds(5);
// Give FetchBinary time for large binaries: a base plus 1 s per 8 MiB
// (loopback moves ~1 GB/s; this is slack for a busy machine).
constexpr auto kFetchBaseDeadline = std::chrono::seconds(30);
constexpr std::uint64_t kFetchBytesPerSecondFloor = 8 << 20;
// After a failed write, how long the reader may take to observe the end of
// the call and its status.
constexpr auto kReaderGrace = std::chrono::seconds(2);

bool same_owner(const skein::v1::TaskOwner& a, const skein::v1::TaskOwner& b) {
  return a.worker_id() == b.worker_id() && a.node_id() == b.node_id();
}

// Whether two task messages are of the same kind, job and owner.
bool same_stream(const skein::v1::AgentMessage& a, const skein::v1::AgentMessage& b) {
  if (a.msg_case() != b.msg_case()) {
    return false;
  }
  if (a.has_tasks()) {
    return a.tasks().job_id() == b.tasks().job_id() &&
           same_owner(a.tasks().owner(), b.tasks().owner());
  }
  if (a.has_wg_deltas()) {
    return a.wg_deltas().job_id() == b.wg_deltas().job_id() &&
           same_owner(a.wg_deltas().owner(), b.wg_deltas().owner());
  }
  return a.results().job_id() == b.results().job_id() &&
         same_owner(a.results().owner(), b.results().owner());
}

std::chrono::system_clock::time_point deadline_in(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

}  // namespace

CoordinatorClient::CoordinatorClient(CoordinatorClientOptions options, CoordinatorHandlers handlers)
    : options_(std::move(options)), handlers_(std::move(handlers)) {}

CoordinatorClient::~CoordinatorClient() { stop(); }

absl::StatusOr<CoordinatorClient::Connection> CoordinatorClient::make_stub(
    const AuthConfig& auth) const {
  grpc::ChannelArguments args;
  // Reconnect fast after a coordinator restart; gRPC's default backoff grows
  // to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(options_.min_backoff.count()));
  // gRPC 1.51 also takes this as the minimum time one connection attempt
  // (TCP + TLS handshake) may take: at 100 ms a TLS handshake on a busy host
  // or a slow link never completed, and an agent healed from a partition
  // never got back in.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(kMinConnectTimeout.count()));
  // A partition drops packets silently: without keepalive pings the agent
  // would write into a dead connection until TCP gives up (minutes), and
  // after the heal wait for TCP's retransmission backoff (tens of seconds).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(kKeepaliveTime.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(kKeepaliveTimeout.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(options_.max_backoff.count()));
  args.SetMaxReceiveMessageSize(8 << 20);
  auto channel = make_channel(options_.address, auth, args);
  if (!channel.ok()) {
    return channel.status();
  }
  return Connection{*channel, std::shared_ptr<skein::v1::NodeGateway::Stub>(
                                  skein::v1::NodeGateway::NewStub(*channel))};
}

absl::Status CoordinatorClient::start() {
  auto stub = make_stub(options_.auth);
  if (!stub.ok()) {
    return stub.status();
  }
  {
    std::lock_guard<std::mutex> lock(stub_mu_);
    stub_ = *std::move(stub);
  }
  session_ = std::thread([this] { session_loop(); });
  return absl::OkStatus();
}

absl::Status CoordinatorClient::reload_credentials(const AuthConfig& auth) {
  auto stub = make_stub(auth);
  if (!stub.ok()) {
    return stub.status();
  }
  std::lock_guard<std::mutex> lock(stub_mu_);
  stub_ = *std::move(stub);
  return absl::OkStatus();
}

std::shared_ptr<skein::v1::NodeGateway::Stub> CoordinatorClient::stub() const {
  std::lock_guard<std::mutex> lock(stub_mu_);
  return stub_.stub;
}

absl::Status CoordinatorClient::wait_connected(Clock::time_point fence_at) const {
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard<std::mutex> lock(stub_mu_);
    channel = stub_.channel;
  }
  // Waiting here is what drives the connection: a sync client's handshake
  // only makes progress while some thread polls inside gRPC, and a fail-fast
  // call returns at once while the channel is in TRANSIENT_FAILURE. Left to
  // gRPC's 5 s backup poller, a TLS handshake never finished within its own
  // 5 s deadline after a partition healed.
  // In slices, so that stop() is never kept waiting; never past the time
  // this node must fence itself.
  auto deadline = std::chrono::system_clock::now() + 2 * kMinConnectTimeout;
  if (fence_at != Clock::time_point::max()) {
    deadline =
        std::min(deadline, std::chrono::system_clock::now() +
                               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   fence_at - Clock::now()));
  }
  for (auto now = std::chrono::system_clock::now(); now < deadline;
       now = std::chrono::system_clock::now()) {
    if (channel->WaitForConnected(std::min(deadline, now + std::chrono::milliseconds(200)))) {
      return absl::OkStatus();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      return absl::CancelledError("stopping");
    }
  }
  return absl::UnavailableError(absl::StrCat("cannot connect to the coordinator at ",
                                             options_.address, " (channel state ",
                                             static_cast<int>(channel->GetState(false)), ")"));
}

void CoordinatorClient::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      return;
    }
    stop_ = true;
    if (active_ != nullptr) {
      active_->TryCancel();
    }
  }
  cv_.notify_all();
  if (session_.joinable()) {
    session_.join();
  }
}

std::string CoordinatorClient::node_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return node_id_;
}

bool CoordinatorClient::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return connected_.load() || stop_; }) &&
         connected_.load();
}

bool CoordinatorClient::flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto empty = [this] { return outbox_.empty() && task_out_.empty(); };
  return cv_.wait_for(lock, timeout, [&] { return empty() || !connected_.load(); }) && empty();
}

void CoordinatorClient::wake_writer_locked() {
  // Only an idle writer needs the wake-up: a busy one drains the queue
  // before it waits again, and skipping the notify saves a futex call per
  // message under load.
  if (writer_idle_) {
    cv_.notify_all();
  }
}

void CoordinatorClient::enqueue_task_locked(skein::v1::AgentMessage m, std::size_t entries,
                                            std::size_t bytes) {
  task_bytes_ += bytes + entries * kEntryMemoryBytes;
  // Merge into the newest queued message of the same kind, job and owner, if
  // it has room; an older one would reorder that owner's messages.
  for (auto it = task_out_.rbegin(); it != task_out_.rend(); ++it) {
    if (!same_stream(it->msg, m)) {
      continue;
    }
    if (it->entries + entries > kMaxBatchEntries || it->bytes + bytes > kMaxBatchBytes) {
      break;
    }
    if (m.has_tasks()) {
      auto* dst = it->msg.mutable_tasks()->mutable_tasks();
      for (auto& t : *m.mutable_tasks()->mutable_tasks()) {
        dst->Add(std::move(t));
      }
    } else if (m.has_wg_deltas()) {
      auto* dst = it->msg.mutable_wg_deltas()->mutable_deltas();
      for (auto& d : *m.mutable_wg_deltas()->mutable_deltas()) {
        dst->Add(std::move(d));
      }
    } else {
      auto* dst = it->msg.mutable_results()->mutable_results();
      for (auto& r : *m.mutable_results()->mutable_results()) {
        dst->Add(std::move(r));
      }
    }
    it->entries += entries;
    it->bytes += bytes;
    task_merges_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  task_out_.push_back(QueuedTask{std::move(m), entries, bytes});
}

void CoordinatorClient::send_tasks(skein::v1::TaskBatch batch) {
  const std::size_t entries = static_cast<std::size_t>(batch.tasks_size());
  const std::size_t bytes = batch.ByteSizeLong();
  skein::v1::AgentMessage m;
  *m.mutable_tasks() = std::move(batch);
  std::lock_guard<std::mutex> lock(mu_);
  enqueue_task_locked(std::move(m), entries, bytes);
  wake_writer_locked();
}

void CoordinatorClient::send_results(skein::v1::ResultBatch batch) {
  const std::size_t entries = static_cast<std::size_t>(batch.results_size());
  const std::size_t bytes = batch.ByteSizeLong();
  skein::v1::AgentMessage m;
  *m.mutable_results() = std::move(batch);
  std::lock_guard<std::mutex> lock(mu_);
  enqueue_task_locked(std::move(m), entries, bytes);
  wake_writer_locked();
}

void CoordinatorClient::send_wg_deltas(skein::v1::WaitGroupDeltaBatch batch) {
  const std::size_t entries = static_cast<std::size_t>(batch.deltas_size());
  const std::size_t bytes = batch.ByteSizeLong();
  skein::v1::AgentMessage m;
  *m.mutable_wg_deltas() = std::move(batch);
  std::lock_guard<std::mutex> lock(mu_);
  enqueue_task_locked(std::move(m), entries, bytes);
  wake_writer_locked();
}

bool CoordinatorClient::tasks_ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return task_bytes_ < options_.max_queued_task_bytes;
}

void CoordinatorClient::send_event(skein::v1::JobEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    skein::v1::AgentMessage m;
    *m.mutable_job_event() = std::move(event);
    outbox_.push_back(std::move(m));
    wake_writer_locked();
  }
}

bool CoordinatorClient::logs_ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_bytes_ < options_.max_queued_log_bytes;
}

void CoordinatorClient::send_log(skein::v1::LogChunk chunk) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_bytes_ += chunk.data().size();
    skein::v1::AgentMessage m;
    *m.mutable_log() = std::move(chunk);
    outbox_.push_back(std::move(m));
    wake_writer_locked();
  }
}

void CoordinatorClient::sleep_backoff(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_; });
}

absl::Status CoordinatorClient::do_register() {
  if (absl::Status c = wait_connected(Clock::time_point::max()); !c.ok()) {
    return c;
  }
  skein::v1::RegisterRequest req;
  *req.mutable_resources() = options_.resources;
  req.set_hostname(options_.hostname);
  req.set_pid(static_cast<std::int32_t>(::getpid()));
  skein::v1::RegisterResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline_in(options_.rpc_deadline));
  absl::Status s = from_grpc(stub()->Register(&ctx, req, &resp));
  if (!s.ok()) {
    return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  node_id_ = resp.node_id();
  epoch_ = resp.epoch();
  if (resp.heartbeat_period_ms() > 0) {
    period_ = std::chrono::milliseconds(resp.heartbeat_period_ms());
  }
  fence_after_ = std::max(std::chrono::milliseconds(resp.heartbeat_period_ms()) *
                              std::max<std::uint32_t>(resp.miss_limit(), 1),
                          std::chrono::milliseconds(resp.recovery_window_ms()));
  last_contact_ = Clock::now();
  logger("node")->info("registered as {} (epoch {}), heartbeat every {} ms", node_id_, epoch_,
                       period_.count());
  if (!options_.ready_file.empty()) {
    if (auto w = pki::write_file_atomic(options_.ready_file, node_id_ + "\n", 0644); !w.ok()) {
      logger("node")->warn("cannot write {}: {}", options_.ready_file, w.ToString());
    }
  }
  return absl::OkStatus();
}

absl::Status CoordinatorClient::run_stream() {
  if (absl::Status c = wait_connected(fence_time()); !c.ok()) {
    return c;
  }
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<skein::v1::AgentMessage, skein::v1::CoordinatorMessage>>
      stream;
  skein::v1::AgentMessage hello;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      return absl::CancelledError("stopping");
    }
    active_ = &ctx;
    hello.mutable_hello()->set_node_id(node_id_);
    hello.mutable_hello()->set_epoch(epoch_);
  }
  for (std::uint64_t id : handlers_.running_jobs()) {
    hello.mutable_hello()->add_running_job_ids(id);
  }
  // The stream keeps this stub (and its channel) alive, also across a
  // reload_credentials().
  const auto stub_for_stream = stub();
  stream = stub_for_stream->Connect(&ctx);

  bool broken = false;  // guarded by mu_
  std::thread reader([&] {
    skein::v1::CoordinatorMessage msg;
    while (stream->Read(&msg)) {
      switch (msg.msg_case()) {
        case skein::v1::CoordinatorMessage::kAck: {
          std::lock_guard<std::mutex> lock(mu_);
          if (msg.ack().heartbeat_period_ms() > 0) {
            period_ = std::chrono::milliseconds(msg.ack().heartbeat_period_ms());
          }
          connected_.store(true);
          cv_.notify_all();
          break;
        }
        case skein::v1::CoordinatorMessage::kStartJob:
          handlers_.start_job(msg.start_job());
          break;
        case skein::v1::CoordinatorMessage::kCancelJob:
          handlers_.cancel_job(msg.cancel_job());
          break;
        case skein::v1::CoordinatorMessage::kShutdown:
          handlers_.shutdown(msg.shutdown().reason());
          break;
        case skein::v1::CoordinatorMessage::kTasks:
          if (handlers_.tasks) {
            handlers_.tasks(std::move(*msg.mutable_tasks()));
          }
          break;
        case skein::v1::CoordinatorMessage::kResults:
          if (handlers_.results) {
            handlers_.results(std::move(*msg.mutable_results()));
          }
          break;
        case skein::v1::CoordinatorMessage::kWgDeltas:
          if (handlers_.wg_deltas) {
            handlers_.wg_deltas(std::move(*msg.mutable_wg_deltas()));
          }
          break;
        default:
          break;  // newer coordinator: ignore what we do not know
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    broken = true;
    cv_.notify_all();
  });

  // Written is not read: what the transport still buffered when the stream
  // broke is lost with it. The last few task messages are kept and sent
  // again on the next stream (duplicates are harmless, losses are not).
  RecentWrites recent;
  bool write_ok = stream->Write(hello);
  std::uint64_t seq = 0;
  auto next_heartbeat = Clock::now();
  bool tasks_turn = true;  // alternate queues so neither starves the other
  while (write_ok) {
    std::unique_lock<std::mutex> lock(mu_);
    writer_idle_ = true;
    cv_.wait_until(lock, next_heartbeat,
                   [&] { return stop_ || broken || !outbox_.empty() || !task_out_.empty(); });
    writer_idle_ = false;
    if (stop_ || broken) {
      break;
    }
    if (Clock::now() >= next_heartbeat) {
      auto period = period_;
      if (options_.heartbeat.count() > 0) {
        period = std::min(period, options_.heartbeat);
      }
      next_heartbeat = Clock::now() + period;
      lock.unlock();
      skein::v1::AgentMessage hb;
      *hb.mutable_heartbeat() = handlers_.heartbeat();
      hb.mutable_heartbeat()->set_seq(++seq);
      write_ok = stream->Write(hb);
      continue;
    }
    const bool take_task = !task_out_.empty() && (outbox_.empty() || tasks_turn);
    tasks_turn = !take_task;
    if (take_task) {
      QueuedTask q = std::move(task_out_.front());
      task_out_.pop_front();
      task_bytes_ -= memory_cost(q);
      lock.unlock();
      write_ok = stream->Write(q.msg);
      if (write_ok) {
        task_writes_.fetch_add(1, std::memory_order_relaxed);
        // Deltas are not idempotent: a resent one would count twice at the
        // group's owner, so they are not kept for a resend (at most once).
        if (!q.msg.has_wg_deltas()) {
          recent.remember(q, Clock::now());
        }
      } else if (q.msg.has_wg_deltas()) {
        // The coordinator may have it already, and a duplicate delta is not
        // harmless: dropped (at most once, docs/wire.md "Wait groups").
        logger("node")->warn("{} wait-group delta(s) of job {} may be lost with the stream",
                             q.entries, q.msg.wg_deltas().job_id());
      } else {
        // Re-sent on the next stream: the coordinator may have it already,
        // and a duplicate is harmless where a loss is not.
        std::lock_guard<std::mutex> relock(mu_);
        task_bytes_ += memory_cost(q);
        task_out_.push_front(std::move(q));
      }
      cv_.notify_all();  // flush() waits for empty queues
      continue;
    }
    // One FIFO for events and logs: a job's output must reach the
    // coordinator before its exit event, which ends followed log streams.
    skein::v1::AgentMessage m = std::move(outbox_.front());
    outbox_.pop_front();
    const bool is_log = m.has_log();
    if (is_log) {
      log_bytes_ -= m.log().data().size();
    }
    lock.unlock();
    write_ok = stream->Write(m);
    // An event is resent on the next stream, and so is a log's end marker
    // (followers of the job wait for it); output itself is not.
    if (!write_ok && (!is_log || m.log().end_of_output())) {
      std::lock_guard<std::mutex> relock(mu_);
      outbox_.push_front(std::move(m));
    }
    cv_.notify_all();  // flush() waits for an empty outbox
  }
  {
    // A failed write means the call is over; give the reader a moment to see
    // the server's status (FAILED_PRECONDITION matters) before cancelling.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kReaderGrace, [&] { return broken; });
    if (stop_ || !broken) {
      ctx.TryCancel();
    }
  }
  reader.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = nullptr;
    if (!stop_) {
      // Oldest first, ahead of what was never written.
      auto again = recent.take(Clock::now());
      task_resends_.fetch_add(again.size(), std::memory_order_relaxed);
      for (auto it = again.rbegin(); it != again.rend(); ++it) {
        task_bytes_ += memory_cost(*it);
        task_out_.push_front(std::move(*it));
      }
    }
  }
  if (connected_.exchange(false)) {
    std::lock_guard<std::mutex> lock(mu_);
    last_contact_ = Clock::now();
  }
  return from_grpc(stream->Finish());
}

CoordinatorClient::Clock::time_point CoordinatorClient::fence_time() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (node_id_.empty() || fence_after_ <= std::chrono::milliseconds(0)) {
    return Clock::time_point::max();
  }
  return last_contact_ + fence_after_;
}

void CoordinatorClient::RecentWrites::remember(const QueuedTask& q, Clock::time_point now) {
  Written w{now, q.msg.SerializeAsString(), q.entries};
  bytes_ += w.wire.size();
  items_.push_back(std::move(w));
  trim(now);
}

void CoordinatorClient::RecentWrites::trim(Clock::time_point now) {
  while (!items_.empty() && (bytes_ > kResendBytes || now - items_.front().when > kResendWindow)) {
    bytes_ -= items_.front().wire.size();
    items_.pop_front();
  }
}

std::vector<CoordinatorClient::QueuedTask> CoordinatorClient::RecentWrites::take(
    Clock::time_point now) {
  trim(now);
  std::vector<QueuedTask> out;
  for (auto& w : items_) {
    QueuedTask q;
    if (q.msg.ParseFromString(w.wire)) {
      q.entries = w.entries;
      q.bytes = w.wire.size();
      out.push_back(std::move(q));
    }
  }
  items_.clear();
  bytes_ = 0;
  return out;
}

void CoordinatorClient::session_loop() {
  auto backoff = options_.min_backoff;
  std::string last_error;
  auto note = [&](const absl::Status& s, const std::string& what) {
    std::string line = absl::StrCat(what, ": ", s.ToString());
    if (line != last_error) {  // one line per distinct failure, not per retry
      logger("node")->warn("{}", line);
      last_error = line;
    }
  };
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) {
        return;
      }
    }
    if (node_id().empty()) {
      absl::Status s = do_register();
      if (absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s)) {
        handlers_.fatal(absl::Status(
            s.code(), absl::StrCat("the coordinator at ", options_.address,
                                   " refused this agent's registration: ", s.message())));
        return;
      }
      if (!s.ok()) {
        note(s, absl::StrCat("register with ", options_.address));
        sleep_backoff(backoff);
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
    }
    const auto began = Clock::now();
    absl::Status s = run_stream();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) {
        return;
      }
    }
    if (Clock::now() - began > kHealthyStream) {
      backoff = options_.min_backoff;
      last_error.clear();
    }
    note(s, "coordinator stream ended");
    std::string lost;
    if (absl::IsFailedPrecondition(s) || absl::IsNotFound(s)) {
      // Declared dead or unknown: our workers are orphans now.
      lost = std::string(s.message());
    } else if (Clock::now() >= fence_time()) {
      // Cut off for longer than the coordinator waits before declaring us
      // dead and re-running our tasks elsewhere: fence ourselves now rather
      // than keep running work that is being duplicated (RELIABILITY §3 row 5).
      lost =
          absl::StrCat("no contact with the coordinator for ",
                       std::chrono::duration_cast<std::chrono::milliseconds>(fence_after_).count(),
                       " ms: this node has been declared dead; fencing (workers killed)");
      logger("node")->warn("{}", lost);
    }
    if (!lost.empty()) {
      // Kill them and come back as a new node.
      handlers_.node_lost(lost);
      std::lock_guard<std::mutex> lock(mu_);
      node_id_.clear();
      epoch_ = 0;
      // Events and logs of the lost jobs mean nothing to the new identity.
      outbox_.clear();
      log_bytes_ = 0;
      // So are tasks and results of the old identity's workers (killed).
      task_out_.clear();
      task_bytes_ = 0;
      continue;
    }
    sleep_backoff(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::Status CoordinatorClient::fetch_binary(const std::string& sha256, std::uint64_t size,
                                             const BinaryCache::ChunkSink& sink) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kFetchBaseDeadline +
                   std::chrono::seconds(size / kFetchBytesPerSecondFloor));
  skein::v1::FetchBinaryRequest req;
  req.set_sha256(sha256);
  const auto stub_for_fetch = stub();
  auto reader = stub_for_fetch->FetchBinary(&ctx, req);
  skein::v1::BinaryChunk chunk;
  std::uint64_t received = 0;
  absl::Status sink_status = absl::OkStatus();
  while (reader->Read(&chunk)) {
    if (chunk.offset() != received) {
      sink_status = absl::DataLossError(
          absl::StrCat("binary chunk at offset ", chunk.offset(), ", expected ", received));
      ctx.TryCancel();
      break;
    }
    sink_status = sink(chunk.data());
    if (!sink_status.ok()) {
      ctx.TryCancel();
      break;
    }
    received += chunk.data().size();
  }
  absl::Status rpc = from_grpc(reader->Finish());
  if (!sink_status.ok()) {
    return sink_status;
  }
  if (!rpc.ok()) {
    return absl::Status(rpc.code(), absl::StrCat("FetchBinary: ", rpc.message()));
  }
  return absl::OkStatus();
}

}  // namespace skein::node
