#include "cluster.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "placement.hpp"
#include "skein/common/log.hpp"
#include "skein/common/sha256.hpp"

namespace skein::coordinator {
namespace {

// Request limits: far above any real use, low enough that one request
// cannot make the journal or the job table balloon.
constexpr size_t kMaxArgs = 4096;
constexpr size_t kMaxArgsBytes = 1 << 20;
constexpr size_t kMaxKeyBytes = 256;
constexpr size_t kMaxNameBytes = 256;
constexpr size_t kMaxLogChunkBytes = 1 << 20;
// How long a terminal job's followers wait for a node's end_of_output beyond
// the cancel grace (job_output.hpp): the agent's pipe drain after the worker
// exits (2 s) and the trip up.
constexpr std::chrono::milliseconds kOutputLingerSlack{3000};
// Output that is late even for the linger is still stored this long.
constexpr std::chrono::milliseconds kLateOutputRetention{60000};
// SubmitJobRequest.remote_functions: a program has dozens, not thousands.
constexpr size_t kMaxRemoteFunctions = 16384;
constexpr size_t kMaxRemoteFunctionBytes = 1024;
constexpr size_t kMaxRemoteFunctionsTotalBytes = 1 << 20;
// docs/wire.md: a batch holds at most this many results.
constexpr int kMaxBatch = 1024;
// Held for one live node while it has no stream (it reconnects within the
// failure detector's window or dies): a few seconds of traffic.
constexpr size_t kMaxParkedBytes = size_t{64} << 20;

// skein::TaskError numbers (node/include/skein/remote_error.hpp) the
// coordinator decides itself.
constexpr uint32_t kTaskUnknownFunction = 3;
constexpr uint32_t kTaskNodeLost = 6;
constexpr uint32_t kTaskUnplaceable = 8;
constexpr uint32_t kTaskCanceled = 9;

std::shared_ptr<spdlog::logger> log() { return logger("coordinator"); }

void notify_all(const std::vector<std::shared_ptr<JobWatcher>>& watchers) {
  for (const auto& w : watchers) {
    w->notify();
  }
}

}  // namespace

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Cluster::~Cluster() {
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
  }
}

Cluster::Cluster(ClusterConfig config)
    : config_(std::move(config)),
      membership_(config_.membership),
      output_(std::chrono::milliseconds(config_.cancel_grace_ms) + kOutputLingerSlack,
              kLateOutputRetention) {}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::open(ClusterConfig config) {
  if (config.data_dir.empty()) {
    return absl::InvalidArgumentError("data directory is required");
  }
  if (config.membership.heartbeat_period.count() <= 0 || config.membership.miss_limit <= 0) {
    return absl::InvalidArgumentError("heartbeat period and miss limit must be > 0");
  }
  std::error_code ec;
  bool created = std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("create data dir ", config.data_dir, ": ", ec.message()));
  }
  if (created) {
    // Ours alone. An existing directory is left as the user set it up (never
    // chmod a shared directory someone passed by mistake).
    std::filesystem::permissions(config.data_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  std::unique_ptr<Cluster> c(new Cluster(config));
  // One coordinator per data directory: two appenders would interleave the
  // journal. The lock dies with the process, so a crash never leaves it stale.
  std::string lock_path = config.data_dir + "/lock";
  c->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (c->lock_fd_ < 0) {
    return absl::InternalError(absl::StrCat("open ", lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(c->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("data directory ", config.data_dir,
                                                      " is in use by another skein-coordinator"));
  }
  auto bins = BinaryStore::open(config.data_dir, config.max_binary_bytes);
  if (!bins.ok()) {
    return bins.status();
  }
  c->binaries_ = *std::move(bins);
  auto logs = LogStore::open(config.data_dir, config.max_log_bytes_per_job);
  if (!logs.ok()) {
    return logs.status();
  }
  c->logs_ = *std::move(logs);

  std::vector<v1::JournalRecord> replay;
  auto journal = Journal::open(config.data_dir, &replay);
  if (!journal.ok()) {
    return journal.status();
  }
  std::lock_guard<std::mutex> lock(c->mu_);
  c->journal_ = *std::move(journal);
  std::map<std::string, v1::NodeInfo> nodes;
  for (const auto& rec : replay) {
    if (rec.has_job()) {
      c->jobs_.restore(rec.job());
    } else if (rec.has_node()) {
      nodes[rec.node().node_id()] = rec.node();
    }
  }
  auto steady_now = std::chrono::steady_clock::now();
  for (const auto& [id, node] : nodes) {
    c->membership_.restore(node, steady_now, config.recovery_window);
  }
  std::vector<v1::JobInfo> failed;
  if (config.recovery_window.count() == 0) {
    failed = c->jobs_.fail_in_flight_after_restart(now_unix_ms());
  }
  // Compact: one record per node and per job, the in-flight failures included.
  std::vector<v1::JournalRecord> compacted;
  for (const auto& node : c->membership_.list(/*include_dead=*/true)) {
    compacted.emplace_back().mutable_node()->CopyFrom(node);
  }
  for (const auto& job : c->jobs_.list({}, 0)) {
    compacted.emplace_back().mutable_job()->CopyFrom(job);
  }
  std::reverse(compacted.begin() + static_cast<long>(nodes.size()), compacted.end());
  if (auto st = c->journal_->compact(compacted); !st.ok()) {
    return st;
  }
  if (!replay.empty()) {
    log()->info(
        "recovered {} job(s) and {} node record(s) from {}; {} in-flight job(s) failed; "
        "{} node(s) may reconnect within {} ms",
        c->jobs_.size(), nodes.size(), c->journal_->path(), failed.size(),
        c->membership_.list(false).size(), config.recovery_window.count());
  }
  return c;
}

// ---------------------------------------------------------------------------
// Helpers (REQUIRES(mu_))

absl::Status Cluster::journal_job_locked(const v1::JobInfo& job) {
  v1::JournalRecord rec;
  *rec.mutable_job() = job;
  return journal_->append(rec);
}

void Cluster::journal_job_or_log_locked(const v1::JobInfo& job) {
  // The transition already happened in memory and is visible; failing the
  // caller would not undo what the agent did. Make the loss loud instead.
  if (auto st = journal_job_locked(job); !st.ok()) {
    log()->error("journal append for job {} failed ({}); this change is lost on restart",
                 job.job_id(), st.ToString());
  }
}

Cluster::Watchers Cluster::watchers_locked(uint64_t job_id) const {
  Watchers out;
  auto range = watchers_.equal_range(job_id);
  for (auto it = range.first; it != range.second; ++it) {
    out.push_back(it->second);
  }
  return out;
}

namespace {

// StartJob for a job's driver, or (driver = false) for its task workers.
v1::CoordinatorMessage start_job_message(const v1::JobInfo& job, bool driver) {
  v1::CoordinatorMessage msg;
  auto* start = msg.mutable_start_job();
  start->set_job_id(job.job_id());
  start->set_binary_sha256(job.binary_sha256());
  start->set_binary_size(job.binary_size());
  *start->mutable_args() = job.args();
  start->set_name(job.name());
  start->set_driver(driver);
  return msg;
}

}  // namespace

void Cluster::send_start_locked(const v1::JobInfo& job) {
  output_.expect(job.job_id(), job.driver_node());
  auto it = sessions_.find(job.driver_node());
  if (it == sessions_.end()) {
    return;  // sent when the node's stream attaches
  }
  it->second->send_owned(start_job_message(job, /*driver=*/true));
}

void Cluster::send_cancel_locked(const v1::JobInfo& job) {
  v1::CoordinatorMessage msg;
  auto* cancel = msg.mutable_cancel_job();
  cancel->set_job_id(job.job_id());
  cancel->set_reason(job.error());
  cancel->set_grace_ms(config_.cancel_grace_ms);
  auto send_to = [&](const std::string& node_id) {
    if (auto it = sessions_.find(node_id); it != sessions_.end()) {
      it->second->send(msg);
    }
  };
  send_to(job.driver_node());
  // Task workers end with the job on every node that ran some (wire.md).
  if (auto d = dispatch_.find(job.job_id()); d != dispatch_.end()) {
    for (NodeIndex n : d->second.worker_nodes) {
      if (node_names_[n] != job.driver_node()) {
        send_to(node_names_[n]);
      }
    }
  }
}

std::optional<std::string> Cluster::choose_node_locked() const {
  // A node without a stream cannot be told to start anything, and one
  // restored after a restart may never come back: place on connected nodes.
  std::vector<v1::NodeStats> connected;
  for (auto& s : membership_.stats()) {
    if (sessions_.count(s.node().node_id()) > 0) {
      connected.push_back(std::move(s));
    }
  }
  return choose_least_loaded(connected, jobs_.active_count_by_node(), jobs_.placed_count_by_node());
}

void Cluster::place_pending_locked(Watchers* notify) {
  for (uint64_t id : jobs_.unplaced()) {
    const v1::JobInfo* job = jobs_.find(id);
    std::optional<std::string> node;
    if (!job->pinned_node().empty()) {
      if (!membership_.is_alive(job->pinned_node())) {
        continue;  // submit checked it was alive; it may come back? No: dead is final.
      }
      node = job->pinned_node();
    } else {
      node = choose_node_locked();
    }
    if (!node) {
      return;
    }
    auto placed = jobs_.place(id, *node);
    if (!placed.ok()) {
      continue;
    }
    journal_job_or_log_locked(*placed);
    send_start_locked(*placed);
    auto w = watchers_locked(id);
    notify->insert(notify->end(), w.begin(), w.end());
  }
}

void Cluster::node_died_locked(const v1::NodeInfo& node, Watchers* notify) {
  log()->warn("node {} (epoch {}) declared dead: {}", node.node_id(), node.epoch(),
              node.dead_reason());
  // Journaled so a restart never revives it: death is final (RELIABILITY R3).
  v1::JournalRecord rec;
  *rec.mutable_node() = node;
  if (auto st = journal_->append(rec); !st.ok()) {
    log()->error("journal append for the death of {} failed: {}", node.node_id(), st.ToString());
  }
  if (auto it = sessions_.find(node.node_id()); it != sessions_.end()) {
    it->second->close(grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("node ", node.node_id(), " (epoch ", node.epoch(),
                     ") was declared dead: ", node.dead_reason(), "; register again")));
    sessions_.erase(it);
  }
  if (auto p = parked_.find(node.node_id()); p != parked_.end()) {
    task_counters_.parked_dropped += p->second.msgs.size();
    parked_.erase(p);
  }
  fail_tasks_on_node_locked(node);
  // A dead node sends no more output: its followers need not wait for it.
  for (uint64_t id : output_.node_gone(node.node_id())) {
    auto w = watchers_locked(id);
    notify->insert(notify->end(), w.begin(), w.end());
  }
  int64_t now = now_unix_ms();
  for (uint64_t id : jobs_.active_on(node.node_id())) {
    auto r = jobs_.mark_node_lost(
        id, absl::StrCat("driver node ", node.node_id(), " lost (", node.dead_reason(), ")"), now);
    if (r.ok()) {
      journal_job_or_log_locked(*r);
      job_changed_locked(*r);
      auto w = watchers_locked(id);
      notify->insert(notify->end(), w.begin(), w.end());
    }
  }
  // Jobs pinned to the dead node can never run now.
  for (uint64_t id : jobs_.unplaced()) {
    const v1::JobInfo* job = jobs_.find(id);
    if (job->pinned_node() == node.node_id()) {
      auto r = jobs_.mark_failed(id, absl::StrCat("pinned node ", node.node_id(), " died"), now);
      if (r.ok()) {
        journal_job_or_log_locked(*r);
        auto w = watchers_locked(id);
        notify->insert(notify->end(), w.begin(), w.end());
      }
    }
  }
}

// ---------------------------------------------------------------------------
// CLI-facing

absl::StatusOr<Cluster::Submitted> Cluster::submit(const v1::SubmitJobRequest& req) {
  if (req.binary_sha256().empty()) {
    return absl::InvalidArgumentError("binary_sha256 is required");
  }
  if (!is_sha256_hex(req.binary_sha256())) {
    return absl::InvalidArgumentError("binary_sha256 must be 64 lowercase hex characters");
  }
  if (static_cast<size_t>(req.args_size()) > kMaxArgs) {
    return absl::InvalidArgumentError(absl::StrCat("too many args (max ", kMaxArgs, ")"));
  }
  size_t arg_bytes = 0;
  for (const auto& a : req.args()) {
    arg_bytes += a.size();
  }
  if (arg_bytes > kMaxArgsBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("args too large (max ", kMaxArgsBytes, " bytes)"));
  }
  if (req.idempotency_key().size() > kMaxKeyBytes || req.name().size() > kMaxNameBytes) {
    return absl::InvalidArgumentError("idempotency_key and name are limited to 256 bytes");
  }
  if (static_cast<size_t>(req.remote_functions_size()) > kMaxRemoteFunctions) {
    return absl::InvalidArgumentError(
        absl::StrCat("too many remote_functions (max ", kMaxRemoteFunctions, ")"));
  }
  size_t fn_bytes = 0;
  for (const auto& f : req.remote_functions()) {
    if (f.empty() || f.size() > kMaxRemoteFunctionBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("remote function names must be 1..", kMaxRemoteFunctionBytes, " bytes"));
    }
    fn_bytes += f.size();
  }
  if (fn_bytes > kMaxRemoteFunctionsTotalBytes) {
    return absl::InvalidArgumentError("remote_functions too large (max 1 MiB in all)");
  }
  if (!req.remote_functions_known() && req.remote_functions_size() > 0) {
    return absl::InvalidArgumentError("remote_functions given but remote_functions_known is false");
  }
  auto size = binaries_->size_of(req.binary_sha256());
  if (!size.ok()) {
    return size.status();
  }
  Watchers notify;
  Submitted out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!req.pinned_node().empty()) {
      const v1::NodeInfo* n = membership_.find(req.pinned_node());
      if (n == nullptr) {
        return absl::NotFoundError(absl::StrCat("pinned node ", req.pinned_node(), " is unknown"));
      }
      if (n->state() != v1::NODE_STATE_ALIVE) {
        return absl::FailedPreconditionError(
            absl::StrCat("pinned node ", req.pinned_node(), " is dead"));
      }
    }
    JobTable::NewJob nj;
    nj.binary_sha256 = req.binary_sha256();
    nj.binary_size = *size;
    nj.args.assign(req.args().begin(), req.args().end());
    nj.idempotency_key = req.idempotency_key();
    nj.pinned_node = req.pinned_node();
    nj.name = req.name();
    nj.remote_functions.assign(req.remote_functions().begin(), req.remote_functions().end());
    nj.remote_functions_known = req.remote_functions_known();
    auto [job, created] = jobs_.create(nj, now_unix_ms());
    if (!created) {
      out.job = job;
      out.deduplicated = true;
      return out;
    }
    std::optional<std::string> node =
        req.pinned_node().empty() ? choose_node_locked() : std::optional(req.pinned_node());
    if (node) {
      auto placed = jobs_.place(job.job_id(), *node);
      if (placed.ok()) {
        job = *placed;
      }
    }
    if (auto st = journal_job_locked(job); !st.ok()) {
      // Not durable, so not accepted: fail the job in memory and tell the client.
      auto r = jobs_.mark_failed(job.job_id(), "not journaled: " + st.ToString(), now_unix_ms());
      (void)r;
      return absl::Status(st.code(), absl::StrCat("job not accepted: ", st.message()));
    }
    send_start_locked(job);
    log()->info("job {} submitted ({}, {} args) -> {}", job.job_id(),
                sha256_prefix(job.binary_sha256()), job.args_size(),
                job.driver_node().empty() ? "queued: no live node" : job.driver_node());
    out.job = job;
  }
  return out;
}

absl::StatusOr<Cluster::LogView> Cluster::log_view(uint64_t job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  const v1::JobInfo* job = jobs_.find(job_id);
  if (job == nullptr) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
  }
  LogView v;
  v.job = *job;
  v.more_output =
      is_terminal(job->state()) && output_.pending(job_id, std::chrono::steady_clock::now());
  return v;
}

absl::StatusOr<v1::JobInfo> Cluster::get_job(uint64_t job_id) const {
  if (job_id == 0) {
    return absl::InvalidArgumentError("job_id is required (ids start at 1)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  const v1::JobInfo* job = jobs_.find(job_id);
  if (job == nullptr) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
  }
  return *job;
}

std::vector<v1::JobInfo> Cluster::list_jobs(const std::vector<v1::JobState>& states,
                                            uint32_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.list(states, limit);
}

absl::StatusOr<v1::JobInfo> Cluster::cancel_job(uint64_t job_id, const std::string& reason) {
  if (job_id == 0) {
    return absl::InvalidArgumentError("job_id is required (ids start at 1)");
  }
  if (reason.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError("reason is limited to 256 bytes");
  }
  Watchers notify;
  v1::JobInfo out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const v1::JobInfo* before = jobs_.find(job_id);
    if (before == nullptr) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    }
    bool was_cancelled = before->state() == v1::JOB_STATE_CANCELLED;
    bool was_placed = !before->driver_node().empty();
    auto r = jobs_.request_cancel(job_id, reason, now_unix_ms());
    if (!r.ok()) {
      return r.status();
    }
    out = *r;
    if (!was_cancelled) {
      if (auto st = journal_job_locked(out); !st.ok()) {
        log()->error("journal append for cancel of job {} failed: {}", job_id, st.ToString());
      }
      // The node may already have started a PENDING job: tell it either way.
      if (was_placed) {
        send_cancel_locked(out);
      }
      job_changed_locked(out);
      log()->info("job {} cancel requested -> {}", job_id, state_name(out.state()));
    }
    notify = watchers_locked(job_id);
  }
  notify_all(notify);
  return out;
}

std::vector<v1::NodeInfo> Cluster::list_nodes(bool include_dead) const {
  std::lock_guard<std::mutex> lock(mu_);
  return membership_.list(include_dead);
}

v1::GetStatsResponse Cluster::stats() const {
  v1::GetStatsResponse out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : membership_.stats()) {
    *out.add_nodes() = std::move(s);
  }
  out.set_unix_ms(now_unix_ms());
  return out;
}

void Cluster::shutdown_nodes(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  v1::CoordinatorMessage msg;
  msg.mutable_shutdown()->set_reason(reason);
  for (auto& [id, session] : sessions_) {
    session->send(msg);
  }
}

void Cluster::add_watcher(uint64_t job_id, std::shared_ptr<JobWatcher> watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.emplace(job_id, std::move(watcher));
}

void Cluster::remove_watcher(uint64_t job_id, const JobWatcher* watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  auto range = watchers_.equal_range(job_id);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second.get() == watcher) {
      watchers_.erase(it);
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Agent-facing

absl::StatusOr<v1::RegisterResponse> Cluster::register_node(const v1::RegisterRequest& req,
                                                            const std::string& identity) {
  if (req.address().size() > 1024 || req.hostname().size() > 1024 ||
      req.resources().labels_size() > 256) {
    return absl::InvalidArgumentError("register: address/hostname/labels too large");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto node =
      membership_.register_node(req, identity, std::chrono::steady_clock::now(), now_unix_ms());
  if (!node.ok()) {
    return node.status();
  }
  v1::JournalRecord rec;
  *rec.mutable_node() = *node;
  if (auto st = journal_->append(rec); !st.ok()) {
    // Without the record a restart could hand the same id out again.
    membership_.declare_dead(node->node_id(), "registration not journaled");
    return absl::Status(st.code(), absl::StrCat("registration not journaled: ", st.message()));
  }
  log()->info("node {} registered: {} cpus, {} bytes, host '{}', address '{}'", node->node_id(),
              req.resources().cpus(), req.resources().memory_bytes(), req.hostname(),
              req.address());
  v1::RegisterResponse resp;
  resp.set_node_id(node->node_id());
  resp.set_epoch(node->epoch());
  resp.set_heartbeat_period_ms(static_cast<uint32_t>(config_.membership.heartbeat_period.count()));
  resp.set_miss_limit(static_cast<uint32_t>(config_.membership.miss_limit));
  resp.set_recovery_window_ms(static_cast<uint32_t>(config_.recovery_window.count()));
  return resp;
}

absl::Status Cluster::attach(const v1::ConnectHello& hello, std::shared_ptr<NodeSession> session) {
  Watchers notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto st = membership_.touch(hello.node_id(), hello.epoch(),
                                    std::chrono::steady_clock::now(), now_unix_ms());
        !st.ok()) {
      return st;
    }
    if (auto it = sessions_.find(hello.node_id()); it != sessions_.end()) {
      it->second->close(
          grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer Connect stream"));
    }
    sessions_[hello.node_id()] = session;
    v1::CoordinatorMessage ack;
    ack.mutable_ack()->set_heartbeat_period_ms(
        static_cast<uint32_t>(config_.membership.heartbeat_period.count()));
    ack.mutable_ack()->set_miss_limit(static_cast<uint32_t>(config_.membership.miss_limit));
    session->send(ack);
    // Messages held while the node had no stream, in their original order.
    if (auto p = parked_.find(hello.node_id()); p != parked_.end()) {
      for (auto& m : p->second.msgs) {
        session->send_owned(std::move(m));
      }
      parked_.erase(p);
    }

    std::set<uint64_t> running(hello.running_job_ids().begin(), hello.running_job_ids().end());
    // Processes of these jobs run there (a driver or a task worker), also
    // after a coordinator restart forgot who ran what: their output counts.
    for (uint64_t id : running) {
      const v1::JobInfo* job = jobs_.find(id);
      if (job == nullptr || is_terminal(job->state())) {
        // The job ended (or is unknown) while this node was away or while
        // the coordinator was restarting: its processes there are strays.
        v1::CoordinatorMessage msg;
        auto* cancel = msg.mutable_cancel_job();
        cancel->set_job_id(id);
        cancel->set_reason(job == nullptr ? std::string("job unknown to the coordinator")
                                          : absl::StrCat("job ended (", state_name(job->state()),
                                                         ") while the node was away"));
        cancel->set_grace_ms(config_.cancel_grace_ms);
        session->send(msg);
        continue;
      }
      output_.expect(id, hello.node_id());
      // Which nodes run a job's task workers is kept in memory only: after a
      // coordinator restart, the nodes say so here, and a later cancel or
      // job end reaches them again.
      if (hello.node_id() != job->driver_node()) {
        JobDispatch& d = dispatch_locked(*job);
        const NodeIndex n = node_index_locked(hello.node_id());
        if (std::find(d.worker_nodes.begin(), d.worker_nodes.end(), n) == d.worker_nodes.end()) {
          d.worker_nodes.push_back(n);
        }
      }
    }
    int64_t now = now_unix_ms();
    for (uint64_t id : jobs_.active_on(hello.node_id())) {
      const v1::JobInfo* job = jobs_.find(id);
      absl::StatusOr<v1::JobInfo> changed = absl::UnknownError("unchanged");
      if (job->state() == v1::JOB_STATE_RUNNING && !running.count(id)) {
        changed = jobs_.mark_node_lost(
            id, absl::StrCat("lost by node ", hello.node_id(), " (not running after reconnect)"),
            now);
      } else if (job->state() == v1::JOB_STATE_PENDING && running.count(id)) {
        changed = jobs_.mark_running(id, now);
      } else if (job->state() == v1::JOB_STATE_PENDING) {
        send_start_locked(*job);  // agents deduplicate StartJob by job_id
      } else if (job->cancel_requested()) {
        send_cancel_locked(*job);
      }
      if (changed.ok()) {
        journal_job_or_log_locked(*changed);
        job_changed_locked(*changed);
        auto w = watchers_locked(id);
        notify.insert(notify.end(), w.begin(), w.end());
      }
    }
    place_pending_locked(&notify);
    log()->info("node {} connected ({} job(s) reported running)", hello.node_id(), running.size());
  }
  notify_all(notify);
  return absl::OkStatus();
}

void Cluster::detach(const std::string& node_id, NodeSession* session) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(node_id);
  if (it != sessions_.end() && it->second.get() == session) {
    sessions_.erase(it);
    log()->info("node {} stream closed; it stays alive until its heartbeats time out", node_id);
  }
  // wire.md: what could not be written on a broken stream is sent on the
  // next one (duplicates are harmless, losses are not). The ack, Shutdown and
  // driver StartJobs are redone by attach() itself.
  size_t resent = 0;
  for (auto& m : session->take_unsent()) {
    if (m.has_tasks() || m.has_results() || m.has_wg_deltas() || m.has_cancel_job() ||
        (m.has_start_job() && !m.start_job().driver())) {
      resent += send_to_node_locked(node_id, std::move(m)) ? 1 : 0;
    }
  }
  if (resent > 0) {
    log()->info("node {}: {} unsent message(s) kept for its next stream", node_id, resent);
  }
}

absl::Status Cluster::on_job_event_locked(const std::string& node_id, const v1::JobEvent& ev,
                                          Watchers* notify) {
  if (ev.job_id() == 0) {
    return absl::InvalidArgumentError("job_event without job_id");
  }
  if (ev.kind() == v1::JOB_EVENT_KIND_UNSPECIFIED || !v1::JobEventKind_IsValid(ev.kind())) {
    return absl::InvalidArgumentError("job_event without a valid kind");
  }
  const v1::JobInfo* job = jobs_.find(ev.job_id());
  if (job == nullptr || job->driver_node() != node_id) {
    log()->warn("ignoring event for job {} from {}: not a job driven there", ev.job_id(), node_id);
    return absl::OkStatus();
  }
  if (is_terminal(job->state())) {
    return absl::OkStatus();  // late or duplicated: history is final
  }
  // The coordinator's clock, not the agent's: one clock for all of a job's
  // timestamps, whatever the skew between machines.
  int64_t now = now_unix_ms();
  absl::StatusOr<v1::JobInfo> r = absl::UnknownError("no change");
  switch (ev.kind()) {
    case v1::JOB_EVENT_KIND_STARTED:
      if (job->state() == v1::JOB_STATE_PENDING) {
        r = jobs_.mark_running(ev.job_id(), now);
      }
      break;
    case v1::JOB_EVENT_KIND_EXITED:
      r = jobs_.mark_exited(ev.job_id(), ev.exit_code(), ev.term_signal(), now);
      break;
    case v1::JOB_EVENT_KIND_FAILED_TO_START:
      output_.close(ev.job_id(), node_id);  // no driver ran there: no output to wait for
      r = jobs_.mark_failed(
          ev.job_id(),
          absl::StrCat("failed to start on ", node_id, ": ",
                       ev.error().empty() ? "no reason given" : ev.error().substr(0, 1024)),
          now);
      break;
    default:
      break;
  }
  if (r.ok()) {
    journal_job_or_log_locked(*r);
    job_changed_locked(*r);
    log()->info("job {} -> {}{}{}", r->job_id(), state_name(r->state()),
                r->error().empty() ? "" : ": ", r->error());
    auto w = watchers_locked(ev.job_id());
    notify->insert(notify->end(), w.begin(), w.end());
  }
  return absl::OkStatus();
}

absl::Status Cluster::on_log_locked(const std::string& node_id, v1::LogChunk* chunk,
                                    Watchers* notify) {
  if (chunk->job_id() == 0 || chunk->data().size() > kMaxLogChunkBytes) {
    return absl::InvalidArgumentError("log chunk without job_id or larger than 1 MiB");
  }
  const v1::JobInfo* job = jobs_.find(chunk->job_id());
  const bool driver_node = job != nullptr && job->driver_node() == node_id;
  if (job == nullptr || !(driver_node || output_.accepts(chunk->job_id(), node_id))) {
    return absl::OkStatus();  // not ours to store; dropping keeps the stream alive
  }
  if (chunk->end_of_output()) {
    if (output_.close(chunk->job_id(), node_id)) {
      *notify = watchers_locked(chunk->job_id());
    }
    return absl::OkStatus();
  }
  // The label is the stream's node, never what the agent wrote.
  chunk->set_node_id(node_id);
  if (chunk->source() == v1::LOG_SOURCE_UNSPECIFIED) {
    chunk->set_source(driver_node ? v1::LOG_SOURCE_DRIVER : v1::LOG_SOURCE_TASK_WORKER);
  }
  // LogStore has its own lock; appending under mu_ keeps log order
  // consistent with the job's state changes for followers.
  if (auto st = logs_->append(*chunk); !st.ok()) {
    log()->warn("log append for job {} failed: {}", chunk->job_id(), st.ToString());
  }
  *notify = watchers_locked(chunk->job_id());
  return absl::OkStatus();
}

absl::Status Cluster::on_agent_message(const std::string& node_id, uint64_t epoch,
                                       const v1::AgentMessage& msg) {
  v1::AgentMessage copy = msg;
  return on_agent_message(node_id, epoch, &copy);
}

absl::Status Cluster::on_agent_message(const std::string& node_id, uint64_t epoch,
                                       v1::AgentMessage* in) {
  const v1::AgentMessage& msg = *in;
  Watchers notify;
  absl::Status status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto steady = std::chrono::steady_clock::now();
    int64_t now = now_unix_ms();
    switch (msg.msg_case()) {
      case v1::AgentMessage::kHeartbeat:
        status = membership_.record_heartbeat(node_id, epoch, msg.heartbeat(), steady, now);
        break;
      case v1::AgentMessage::kJobEvent:
        status = membership_.touch(node_id, epoch, steady, now);
        if (status.ok()) {
          status = on_job_event_locked(node_id, msg.job_event(), &notify);
        }
        break;
      case v1::AgentMessage::kLog:
        status = membership_.touch(node_id, epoch, steady, now);
        if (status.ok()) {
          status = on_log_locked(node_id, in->mutable_log(), &notify);
        }
        break;
      case v1::AgentMessage::kTasks:
        status = membership_.touch(node_id, epoch, steady, now);
        if (status.ok()) {
          on_tasks_locked(node_id, in->mutable_tasks());
        }
        break;
      case v1::AgentMessage::kResults:
        status = membership_.touch(node_id, epoch, steady, now);
        if (status.ok()) {
          on_results_locked(node_id, in->mutable_results());
        }
        break;
      case v1::AgentMessage::kWgDeltas:
        status = membership_.touch(node_id, epoch, steady, now);
        if (status.ok()) {
          on_wg_deltas_locked(in->mutable_wg_deltas());
        }
        break;
      case v1::AgentMessage::kHello:
        status = absl::InvalidArgumentError("hello sent twice on one stream");
        break;
      default:
        status = absl::InvalidArgumentError("empty or unknown agent message");
        break;
    }
  }
  notify_all(notify);
  return status;
}

absl::StatusOr<std::string> Cluster::node_identity(const std::string& node_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const v1::NodeInfo* n = membership_.find(node_id);
  if (n == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown node '", node_id, "'"));
  }
  return n->identity();
}

absl::StatusOr<std::string> Cluster::remove_node(const std::string& node_or_identity,
                                                 const std::string& reason) {
  Watchers notify;
  std::string identity;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> ids;
    bool known = false;
    if (const v1::NodeInfo* n = membership_.find(node_or_identity); n != nullptr) {
      known = true;
      identity = n->identity();
      ids.push_back(n->node_id());
    } else {
      for (const auto& n : membership_.list(/*include_dead=*/true)) {
        if (!n.identity().empty() && n.identity() == node_or_identity) {
          known = true;
          identity = n.identity();
          if (n.state() == v1::NODE_STATE_ALIVE) {
            ids.push_back(n.node_id());
          }
        }
      }
    }
    if (!known) {
      return absl::NotFoundError(
          absl::StrCat("no node with id or certificate name '", node_or_identity, "'"));
    }
    for (const auto& id : ids) {
      if (auto dead = membership_.declare_dead(id, reason)) {
        node_died_locked(*dead, &notify);
      }
    }
    if (!notify.empty()) {
      place_pending_locked(&notify);
    }
  }
  notify_all(notify);
  return identity;
}

void Cluster::tick(SteadyTime now) {
  Watchers notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& node : membership_.expire(now)) {
      node_died_locked(node, &notify);
    }
    // Jobs orphaned by the deaths may go elsewhere now.
    if (!notify.empty()) {
      place_pending_locked(&notify);
    }
    // Followers of jobs whose missing end_of_output markers are given up on.
    for (uint64_t id : output_.expire(now)) {
      auto w = watchers_locked(id);
      notify.insert(notify.end(), w.begin(), w.end());
    }
  }
  notify_all(notify);
}

// ---------------------------------------------------------------------------
// Task dispatch (REQUIRES(mu_) throughout)

NodeIndex Cluster::node_index_locked(const std::string& node_id) {
  auto [it, inserted] =
      node_index_.try_emplace(node_id, static_cast<NodeIndex>(node_names_.size()));
  if (inserted) {
    node_names_.push_back(node_id);
  }
  return it->second;
}

Cluster::JobDispatch& Cluster::dispatch_locked(const v1::JobInfo& job) {
  auto [it, inserted] = dispatch_.try_emplace(job.job_id());
  if (inserted) {
    it->second.functions_known = job.remote_functions_known();
    it->second.functions.reserve(static_cast<size_t>(job.remote_functions_size()));
    for (const auto& f : job.remote_functions()) {
      it->second.functions.insert(f);
    }
  }
  return it->second;
}

void Cluster::build_view_locked() {
  view_.clear();
  view_slots_.clear();
  // sessions_ is ordered by id, so view order (the placer's last tie-break)
  // is stable from batch to batch.
  for (const auto& [id, session] : sessions_) {
    const v1::NodeLoad* load = membership_.alive_load(id);
    if (load == nullptr) {
      continue;
    }
    NodeIndex idx = node_index_locked(id);
    PlacerNode n;
    n.id = id;
    n.resources = &membership_.find(id)->resources();
    n.runnable = std::max<int64_t>(0, load->runnable_goroutines());
    n.in_flight = tasks_.in_flight_on(idx);
    view_.push_back(n);
    view_slots_.push_back(ViewSlot{idx, session.get()});
  }
}

void Cluster::send_start_worker_locked(const v1::JobInfo& job, const std::string& node_id,
                                       NodeSession* session) {
  output_.expect(job.job_id(), node_id);
  session->send_owned(start_job_message(job, /*driver=*/false));
}

bool Cluster::send_to_node_locked(const std::string& node_id, v1::CoordinatorMessage&& msg) {
  if (auto it = sessions_.find(node_id); it != sessions_.end()) {
    it->second->send_owned(std::move(msg));
    return true;
  }
  if (!membership_.is_alive(node_id)) {
    return false;
  }
  Parked& p = parked_[node_id];
  size_t bytes = msg.ByteSizeLong();
  if (p.bytes + bytes > kMaxParkedBytes) {
    ++task_counters_.parked_dropped;
    log()->error("node {} has no stream and {} bytes already held for it: message dropped", node_id,
                 p.bytes);
    return false;
  }
  p.bytes += bytes;
  p.msgs.push_back(std::move(msg));
  ++task_counters_.parked;
  return true;
}

void Cluster::on_tasks_locked(const std::string& node_id, v1::TaskBatch* batch) {
  const int n = batch->tasks_size();
  if (n == 0) {
    return;
  }
  // The agent fills the owner from the connection; a batch claiming an owner
  // on another node would route that node's results here.
  if (batch->owner().node_id().empty()) {
    batch->mutable_owner()->set_node_id(node_id);
  } else if (batch->owner().node_id() != node_id) {
    log()->warn("dropping {} task(s) from {} claiming owner node {}", n, node_id,
                batch->owner().node_id());
    task_counters_.malformed += static_cast<uint64_t>(n);
    return;
  }
  const uint64_t job_id = batch->job_id();
  const v1::JobInfo* job = job_id == 0 ? nullptr : jobs_.find(job_id);
  std::string refuse;  // non-empty: every task of the batch is kCanceled
  if (job == nullptr) {
    refuse = absl::StrCat("job ", job_id, " does not exist");
  } else if (!(job->state() == v1::JOB_STATE_RUNNING ||
               // The driver can spawn before its STARTED event arrives: the
               // agent sends events and tasks on separate queues.
               (job->state() == v1::JOB_STATE_PENDING && !job->driver_node().empty())) ||
             job->cancel_requested()) {
    refuse = absl::StrCat("job ", job_id, " is not running (",
                          job->cancel_requested() && !is_terminal(job->state())
                              ? "cancel requested"
                              : state_name(job->state()),
                          ")");
  }
  JobDispatch* d = refuse.empty() ? &dispatch_locked(*job) : nullptr;
  const NodeIndex owner_idx = node_index_locked(node_id);
  const uint64_t owner_worker = batch->owner().worker_id();
  if (d != nullptr) {
    build_view_locked();
  }
  // One outgoing message per view slot, created on first use.
  std::vector<std::unique_ptr<v1::CoordinatorMessage>> outs(view_.size());
  v1::CoordinatorMessage refused;
  v1::ResultBatch* rb = nullptr;

  extract_.resize(static_cast<size_t>(n));
  batch->mutable_tasks()->ExtractSubrange(0, n, extract_.data());
  for (v1::Task* raw : extract_) {
    std::unique_ptr<v1::Task> task(raw);
    if (task->task_id() == 0) {
      ++task_counters_.malformed;  // cannot be answered: nobody waits for id 0
      continue;
    }
    uint32_t error = 0;
    std::string why;
    if (d == nullptr) {
      error = kTaskCanceled;
      why = refuse;
    } else if (d->functions_known && !d->functions.contains(task->function())) {
      error = kTaskUnknownFunction;
      why = absl::StrCat("'", task->function(), "' is not a SKEIN_REMOTE function of job ", job_id,
                         "'s binary (", d->functions.size(), " listed at submit)");
    } else {
      absl::StatusOr<size_t> at = place_task(view_, *task, node_id, &d->spread_cursor);
      if (at.ok()) {
        const size_t pos = *at;
        const NodeIndex target = view_slots_[pos].index;
        if (!outs[pos]) {
          if (std::find(d->worker_nodes.begin(), d->worker_nodes.end(), target) ==
              d->worker_nodes.end()) {
            // wire.md: StartJob{driver: false} precedes the job's first batch there.
            send_start_worker_locked(*job, node_names_[target], view_slots_[pos].session);
            d->worker_nodes.push_back(target);
          }
          outs[pos] = std::make_unique<v1::CoordinatorMessage>();
          v1::TaskBatch* tb = outs[pos]->mutable_tasks();
          tb->set_job_id(job_id);
          *tb->mutable_owner() = batch->owner();
          tb->mutable_tasks()->Reserve(n);
        }
        tasks_.insert(job_id, TaskKey{owner_worker, task->task_id(), owner_idx},
                      TaskPlace{task->attempt(), target});
        ++view_[pos].in_flight;
        outs[pos]->mutable_tasks()->mutable_tasks()->AddAllocated(task.release());
        ++task_counters_.placed;
        continue;
      }
      error = kTaskUnplaceable;
      why = std::string(at.status().message());
    }
    if (rb == nullptr || rb->results_size() == kMaxBatch) {
      if (rb != nullptr) {
        send_to_node_locked(node_id, std::move(refused));
        refused.Clear();
      }
      rb = refused.mutable_results();
      rb->set_job_id(job_id);
      *rb->mutable_owner() = batch->owner();
    }
    v1::TaskResult* r = rb->add_results();
    r->set_task_id(task->task_id());
    r->set_attempt(task->attempt());
    r->set_error(error);
    r->set_message(std::move(why));
    ++task_counters_.refused;
  }
  extract_.clear();
  for (size_t pos = 0; pos < outs.size(); ++pos) {
    if (outs[pos]) {
      view_slots_[pos].session->send_owned(std::move(*outs[pos]));
    }
  }
  if (rb != nullptr) {
    send_to_node_locked(node_id, std::move(refused));
  }
}

void Cluster::on_results_locked(const std::string& node_id, v1::ResultBatch* batch) {
  const uint64_t n = static_cast<uint64_t>(batch->results_size());
  if (n == 0) {
    return;
  }
  const std::string& owner_node = batch->owner().node_id();
  const v1::JobInfo* job = batch->job_id() == 0 ? nullptr : jobs_.find(batch->job_id());
  auto owner_idx = node_index_.find(owner_node);
  if (job == nullptr || is_terminal(job->state()) || owner_idx == node_index_.end()) {
    // Nobody waits any more (the job ended, so its in-flight records are
    // already gone), or the owner was never seen here.
    task_counters_.results_dropped += n;
    return;
  }
  TaskKey key{batch->owner().worker_id(), 0, owner_idx->second};
  for (auto& r : *batch->mutable_results()) {
    key.task_id = r.task_id();
    tasks_.complete(batch->job_id(), key, r.attempt());
    if (r.node().empty()) {
      r.set_node(node_id);
    }
  }
  v1::CoordinatorMessage out;
  out.mutable_results()->Swap(batch);
  if (send_to_node_locked(owner_node, std::move(out))) {
    task_counters_.results += n;
  } else {
    task_counters_.results_dropped += n;  // owner's node dead: its owners are too
  }
}

void Cluster::on_wg_deltas_locked(v1::WaitGroupDeltaBatch* batch) {
  const uint64_t n = static_cast<uint64_t>(batch->deltas_size());
  if (n == 0) {
    return;
  }
  // The checks of results: a group's owner belongs to a running job and sits
  // on a live node (the owner need not have had a result yet, so its node may
  // not be indexed here).
  const std::string owner_node = batch->owner().node_id();
  const v1::JobInfo* job = batch->job_id() == 0 ? nullptr : jobs_.find(batch->job_id());
  if (job == nullptr || is_terminal(job->state()) || batch->owner().worker_id() == 0 ||
      !membership_.is_alive(owner_node)) {
    task_counters_.wg_deltas_dropped += n;
    return;
  }
  v1::CoordinatorMessage out;
  out.mutable_wg_deltas()->Swap(batch);
  if (send_to_node_locked(owner_node, std::move(out))) {
    task_counters_.wg_deltas += n;
  } else {
    task_counters_.wg_deltas_dropped += n;  // owner's node dead: the group with it
  }
}

void Cluster::fail_tasks_on_node_locked(const v1::NodeInfo& node) {
  auto idx = node_index_.find(node.node_id());
  if (idx == node_index_.end()) {
    return;  // never placed anything there, never owned anything
  }
  std::vector<LostTask> lost = tasks_.take_node(idx->second);
  if (lost.empty()) {
    return;
  }
  // One ResultBatch per (job, owner), at most kMaxBatch results each.
  std::sort(lost.begin(), lost.end(), [](const LostTask& a, const LostTask& b) {
    return std::tie(a.job_id, a.key.owner_node, a.key.owner_worker, a.key.task_id) <
           std::tie(b.job_id, b.key.owner_node, b.key.owner_worker, b.key.task_id);
  });
  const std::string why =
      absl::StrCat("node ", node.node_id(), " declared dead: ", node.dead_reason());
  v1::CoordinatorMessage msg;
  const LostTask* group = nullptr;
  auto flush = [&] {
    if (group == nullptr) {
      return;
    }
    send_to_node_locked(node_names_[group->key.owner_node], std::move(msg));
    msg.Clear();
    group = nullptr;
  };
  for (const LostTask& t : lost) {
    if (group != nullptr &&
        (group->job_id != t.job_id || group->key.owner_node != t.key.owner_node ||
         group->key.owner_worker != t.key.owner_worker ||
         msg.results().results_size() == kMaxBatch)) {
      flush();
    }
    if (group == nullptr) {
      group = &t;
      v1::ResultBatch* rb = msg.mutable_results();
      rb->set_job_id(t.job_id);
      rb->mutable_owner()->set_node_id(node_names_[t.key.owner_node]);
      rb->mutable_owner()->set_worker_id(t.key.owner_worker);
    }
    v1::TaskResult* r = msg.mutable_results()->add_results();
    r->set_task_id(t.key.task_id);
    r->set_attempt(t.attempt);
    r->set_error(kTaskNodeLost);
    r->set_message(why);
    r->set_node(node.node_id());
  }
  flush();
  task_counters_.node_lost += lost.size();
  log()->warn("{} task(s) in flight on {} returned to their owners as node lost", lost.size(),
              node.node_id());
}

void Cluster::job_changed_locked(const v1::JobInfo& job) {
  if (!is_terminal(job.state())) {
    return;
  }
  output_.job_ended(job.job_id(), std::chrono::steady_clock::now());
  size_t forgotten = tasks_.forget_job(job.job_id());
  auto d = dispatch_.find(job.job_id());
  if (d == dispatch_.end()) {
    return;
  }
  // The driver's node learns of the end from its own driver; every node that
  // ran a task worker must be told, or the warm worker outlives its job.
  v1::CoordinatorMessage msg;
  auto* cancel = msg.mutable_cancel_job();
  cancel->set_job_id(job.job_id());
  cancel->set_reason(job.error().empty() ? absl::StrCat("job ended (", state_name(job.state()), ")")
                                         : job.error());
  cancel->set_grace_ms(config_.cancel_grace_ms);
  for (NodeIndex n : d->second.worker_nodes) {
    send_to_node_locked(node_names_[n], v1::CoordinatorMessage(msg));
  }
  log()->info("job {} ended: {} task(s) in flight forgotten, task workers cancelled on {} node(s)",
              job.job_id(), forgotten, d->second.worker_nodes.size());
  dispatch_.erase(d);
}

Cluster::TaskStats Cluster::task_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  TaskStats s = task_counters_;
  s.in_flight = tasks_.size();
  s.table_bytes = tasks_.bytes();
  return s;
}

int64_t Cluster::tasks_in_flight_on(const std::string& node_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = node_index_.find(node_id);
  return it == node_index_.end() ? 0 : tasks_.in_flight_on(it->second);
}

}  // namespace skein::coordinator
