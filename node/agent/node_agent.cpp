#include "agent/node_agent.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/bootstrap.hpp"
#include "agent/orphan_reaper.hpp"
#include "skein/common/log.hpp"
#include "skein/common/token.hpp"

namespace skein::node {
namespace {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t mem_total_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  std::int64_t kb = 0;
  while (f >> key >> kb) {
    if (key == "MemTotal:") {
      return kb * 1024;
    }
    f.ignore(256, '\n');
  }
  return 0;
}

// Variables a worker may inherit from the agent; everything else (and the
// token in particular, which the agent only ever holds in memory) stays out.
constexpr const char* kInheritedEnv[] = {"PATH", "LANG",        "LC_ALL",
                                         "TZ",   "SKEIN_PROCS", "SKEIN_STACK_SIZE"};
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// At shutdown, how long past the cancel grace we wait for workers to be
// reaped and for their exit events to be written.
constexpr auto kExitReportSlack = std::chrono::milliseconds(500);

// A job's local log is written in 64 KiB pieces; LogChunk carries at most that.
constexpr std::size_t kMaxLogChunk = 64 * 1024;

// Jobs remembered as ended on this node, to send end_of_output after their
// last process exits; the oldest (smallest) ids are forgotten first.
constexpr std::size_t kMaxEndedJobs = 4096;

// How long the coordinator stream's reader waits for a worker that does not
// read its socket before giving up on a frame for it: long enough for a busy
// worker to catch up, short enough that one stuck worker does not hold up the
// node's whole downstream traffic for long.
constexpr auto kDownstreamWait = std::chrono::seconds(5);

}  // namespace

NodeAgent::NodeAgent(AgentConfig config) : config_(std::move(config)) {
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

NodeAgent::~NodeAgent() { stop(); }

void NodeAgent::request_stop() {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_.get(), &one, sizeof(one));
}

absl::Status NodeAgent::start() {
  if (config_.work_dir.empty()) {
    return absl::InvalidArgumentError("--work-dir is required");
  }
  if (config_.node_name.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    config_.node_name = host;
  }
  // The admin token (loopback clusters) or a node certificate.
  AuthConfig auth;
  if (!config_.token_file.empty()) {
    auto token = load_token(config_.token_file);
    if (!token.ok()) {
      return absl::Status(token.status().code(), absl::StrCat("token file ", config_.token_file,
                                                              ": ", token.status().message()));
    }
    auth.token = *token;
    auth.tls = config_.tls;
  } else if (!config_.tls.cert_file.empty()) {
    auth.tls = config_.tls;
  } else {
    std::error_code mk;
    std::filesystem::create_directories(config_.work_dir, mk);
    BootstrapConfig bc{.coordinator = config_.coordinator,
                       .work_dir = config_.work_dir,
                       .node_name = config_.node_name,
                       .bootstrap_token_file = config_.bootstrap_token_file,
                       .ca_hash = config_.ca_hash};
    auto creds = ensure_node_credentials(bc);
    if (!creds.ok()) {
      return creds.status();
    }
    auth.tls = creds->tls;
    bootstrap_ = bc;
    credentials_ = *creds;
    // The certificate decides who this node is.
    config_.node_name = creds->name;
    logger("node")->info("node certificate '{}' valid until {}; renewal due at 2/3 of its life",
                         creds->name, creds->not_after_unix);
  }
  std::error_code ec;
  std::filesystem::create_directories(config_.work_dir, ec);
  if (ec || ::chmod(config_.work_dir.c_str(), 0700) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot use work dir ", config_.work_dir, ": ",
                     ec ? ec.message() : std::string(std::strerror(errno))));
  }
  jobs_dir_ = (std::filesystem::path(config_.work_dir) / "jobs").string();
  std::filesystem::create_directories(jobs_dir_, ec);
  cache_ = std::make_unique<BinaryCache>(std::filesystem::path(config_.work_dir) / "cache",
                                         config_.max_binary_bytes);

  // A previous run of this agent may have died with workers running: their
  // helpers survived it. Nothing of theirs may keep running.
  const auto records = std::filesystem::path(config_.work_dir) / "workers";
  if (const int n = reap_orphans(records); n > 0) {
    logger("node")->warn("killed {} process(es) left over from a previous run of this agent", n);
  }
  SupervisorOptions sup;
  sup.cancel_grace = config_.cancel_grace;
  sup.records_dir = records.string();
  supervisor_ = std::make_unique<WorkerSupervisor>(sup, static_cast<OutputSink*>(this));

  TaskHostDeps td;
  td.launch = [this](std::uint64_t job, std::function<void(pid_t)> on_started) {
    return launch_task_worker(job, std::move(on_started));
  };
  td.to_worker = [this](std::uint64_t worker_id, const skein::v1::AgentToWorker& m) {
    return server_->send(worker_id, m, std::chrono::steady_clock::now() + kDownstreamWait);
  };
  td.to_coordinator = [this](skein::v1::ResultBatch b) { client_->send_results(std::move(b)); };
  td.stop_worker = [this](pid_t pid) { supervisor_->stop_worker(pid); };
  td.log = [this](std::uint64_t job, const std::string& line) { log_system(job, line); };
  td.node_id = [this] { return client_->node_id(); };
  td.refetch = [this](std::uint64_t job) {
    std::lock_guard<std::mutex> lock(mu_);
    auto f = failed_fetches_.find(job);
    if (f == failed_fetches_.end() || stopping_) {
      return;  // a driver start failed: its FAILED_TO_START ends the job anyway
    }
    skein::v1::StartJob cmd = std::move(f->second);
    failed_fetches_.erase(f);
    spawn_starter_locked([this, cmd] { prepare_task_job(cmd); });
  };
  tasks_ = std::make_unique<TaskHost>(std::move(td));

  WorkerServerHandlers wh;
  wh.validate = [this](std::uint64_t job_id, pid_t peer) {
    const auto pids = supervisor_->pids_of(std::to_string(job_id));
    const pid_t group = ::getpgid(peer);
    for (pid_t p : pids) {
      if (p == peer || p == group) {  // the worker, or a process of its group
        return true;
      }
    }
    return false;
  };
  wh.node_id = [this] { return client_->node_id(); };
  wh.hello = [this](const WorkerInfo& w) { tasks_->hello(w); };
  wh.tasks = [this](skein::v1::TaskBatch b) { client_->send_tasks(std::move(b)); };
  wh.results = [this](const WorkerInfo& w, skein::v1::ResultBatch b) {
    tasks_->results(w, b);
    client_->send_results(std::move(b));
  };
  wh.wg_deltas = [this](skein::v1::WaitGroupDeltaBatch b) {
    client_->send_wg_deltas(std::move(b));
  };
  wh.gone = [this](const WorkerInfo& w) { tasks_->gone(w); };
  wh.upstream_ready = [this] { return client_->tasks_ready(); };
  server_ = std::make_unique<WorkerServer>(
      (std::filesystem::path(config_.work_dir) / "agent.sock").string(), config_.stats_interval,
      std::move(wh));

  CoordinatorClientOptions co;
  co.address = config_.coordinator;
  co.auth = auth;
  co.resources.set_cpus(config_.cpus > 0 ? config_.cpus
                                         : static_cast<int>(std::thread::hardware_concurrency()));
  co.resources.set_memory_bytes(config_.memory_bytes > 0 ? config_.memory_bytes
                                                         : mem_total_bytes());
  for (const auto& [k, v] : config_.labels) {
    (*co.resources.mutable_labels())[k] = v;
  }
  co.hostname = config_.node_name;
  co.ready_file = (std::filesystem::path(config_.work_dir) / "node.id").string();
  std::filesystem::remove(co.ready_file, ec);
  co.heartbeat = config_.heartbeat;
  co.max_queued_log_bytes = config_.max_queued_log_bytes;

  CoordinatorHandlers h;
  h.start_job = [this](const skein::v1::StartJob& c) { on_start_job(c); };
  h.cancel_job = [this](const skein::v1::CancelJobCommand& c) { on_cancel_job(c); };
  h.shutdown = [this](const std::string& reason) {
    logger("node")->info("coordinator asked us to shut down: {}", reason);
    request_stop();
  };
  h.node_lost = [this](const std::string& why) { on_node_lost(why); };
  h.fatal = [this](const absl::Status& why) {
    {
      std::lock_guard<std::mutex> lock(fatal_mu_);
      fatal_ = why;
    }
    request_stop();
  };
  h.heartbeat = [this] { return heartbeat(); };
  h.running_jobs = [this] { return running_job_ids(); };
  h.tasks = [this](skein::v1::TaskBatch b) { tasks_->tasks(std::move(b)); };
  h.results = [this](skein::v1::ResultBatch b) { route_results(std::move(b)); };
  h.wg_deltas = [this](skein::v1::WaitGroupDeltaBatch b) { route_wg_deltas(std::move(b)); };
  // Built before the socket starts (its handlers use it), started after.
  client_ = std::make_unique<CoordinatorClient>(std::move(co), std::move(h));
  if (absl::Status s = server_->start(); !s.ok()) {
    return s;
  }
  return client_->start();
}

absl::Status NodeAgent::run() {
  // Signals are taken synchronously through a signalfd; block them before any
  // thread starts so every thread inherits the mask.
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGTERM);
  ::sigaddset(&set, SIGINT);
  ::sigaddset(&set, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));

  if (absl::Status s = start(); !s.ok()) {
    stop();
    return s;
  }
  logger("node")->info("node agent up: coordinator {}, work dir {}", config_.coordinator,
                       config_.work_dir);
  pollfd fds[2] = {{sigfd.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
  while (true) {
    int n = ::poll(fds, 2, renew_certificate_due());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si{};
      [[maybe_unused]] ssize_t r = ::read(sigfd.get(), &si, sizeof(si));
      logger("node")->info("signal {}: shutting down", si.ssi_signo);
      break;
    }
    if (fds[1].revents & POLLIN) {
      break;
    }
  }
  stop();
  std::lock_guard<std::mutex> lock(fatal_mu_);
  return fatal_;
}

int NodeAgent::renew_certificate_due() {
  if (!credentials_) {
    return -1;
  }
  const auto now = std::chrono::system_clock::now();
  const auto due = std::max(renewal_time(*credentials_), next_renewal_try_);
  if (now < due) {
    return static_cast<int>(std::min<std::int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count() + 1,
        std::int64_t{3600} * 1000));
  }
  auto renewed = renew_node_credentials(*bootstrap_, *credentials_);
  absl::Status s =
      renewed.ok() ? client_->reload_credentials(AuthConfig{"", renewed->tls}) : renewed.status();
  if (!s.ok()) {
    // The old certificate still has a third of its life: try again soon.
    logger("node")->warn("renewing the node certificate failed (retry in 1 min): {}", s.ToString());
    next_renewal_try_ = now + std::chrono::minutes(1);
    return 60 * 1000;
  }
  credentials_ = *renewed;
  logger("node")->info("node certificate renewed; valid until {}", credentials_->not_after_unix);
  return 0;
}

void NodeAgent::stop() {
  std::vector<Starter> starters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
    starters.swap(starters_);
  }
  // No new task worker from here on; the ones running are cancelled below.
  if (tasks_) {
    tasks_->stop();
  }
  // Stop workers first (SIGTERM, then SIGKILL after the grace) and give
  // their exit events a moment to reach the coordinator, then close the
  // stream and the socket.
  if (supervisor_) {
    for (std::uint64_t id : running_job_ids()) {
      [[maybe_unused]] absl::Status s = supervisor_->cancel(std::to_string(id));
    }
    const auto deadline =
        std::chrono::steady_clock::now() + config_.cancel_grace + kExitReportSlack;
    while (!running_job_ids().empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (client_) {
    client_->flush(kExitReportSlack);
  }
  if (client_) {
    logger("node")->info(
        "task relay: {} task/result messages written, {} batches merged into queued ones, {} "
        "re-sent after a broken stream, {} results dropped (owner gone)",
        client_->task_messages_written(), client_->task_batches_merged(),
        client_->task_messages_resent(), dropped_results_.load());
    client_->stop();
  }
  for (auto& t : starters) {
    t.thread.join();
  }
  // The socket first: its handlers (peer check, a task worker's hang-up)
  // call into the supervisor, which must outlive them.
  if (server_) {
    server_->stop();
  }
  supervisor_.reset();
}

bool NodeAgent::ready(const std::string& /*job_id*/) { return client_->logs_ready(); }

void NodeAgent::output(const std::string& job_id, pid_t pid, OutputStream stream,
                       std::string_view data) {
  std::uint64_t id = 0;
  if (!absl::SimpleAtoi(job_id, &id)) {
    return;
  }
  skein::v1::LogSource source = skein::v1::LOG_SOURCE_TASK_WORKER;
  {
    std::lock_guard<std::mutex> lock(logs_mu_);
    if (auto d = drivers_.find(id); d != drivers_.end() && d->second == pid) {
      source = skein::v1::LOG_SOURCE_DRIVER;
    }
    auto& log = logs_[job_id];
    if (!log) {
      log = std::make_unique<JobLog>(std::filesystem::path(jobs_dir_) / job_id,
                                     config_.job_log_max_bytes);
    }
    if (absl::Status s = log->append(data); !s.ok()) {
      logger("node")->warn("job {} local log: {}", job_id, std::string(s.message()));
    }
  }
  while (!data.empty()) {
    const std::size_t n = std::min(data.size(), kMaxLogChunk);
    skein::v1::LogChunk chunk;
    chunk.set_job_id(id);
    chunk.set_stream(stream == OutputStream::kStdout ? skein::v1::LOG_STREAM_STDOUT
                                                     : skein::v1::LOG_STREAM_STDERR);
    chunk.set_source(source);
    chunk.set_pid(static_cast<std::int32_t>(pid));
    chunk.set_data(std::string(data.substr(0, n)));
    chunk.set_unix_ms(now_unix_ms());
    client_->send_log(std::move(chunk));
    data.remove_prefix(n);
  }
}

void NodeAgent::exited(const WorkerExit& e) {
  std::uint64_t id = 0;
  if (!absl::SimpleAtoi(e.job_id, &id)) {
    return;
  }
  bool driver = false;
  {
    std::lock_guard<std::mutex> lock(logs_mu_);
    if (auto d = drivers_.find(id); d != drivers_.end() && d->second == e.pid) {
      driver = true;
      drivers_.erase(d);
    }
    if (auto l = live_.find(id); l != live_.end() && --l->second <= 0) {
      live_.erase(l);
      logs_.erase(e.job_id);  // the job's last process here: close its log
    }
  }
  // A task worker's exit fails what it held (TaskHost) and is a line in the
  // job's log, never a JobEvent: only the driver's exit ends the job.
  if (!driver) {
    tasks_->exited(id, e.pid, e.message);
    std::lock_guard<std::mutex> lock(logs_mu_);
    end_output_if_done_locked(id);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(id);
  }
  // The driver's exit ends the job: no task worker starts here for it any
  // more, and its output here ends (before the exit event, so a follower
  // that sees the job terminal need not wait for this node) once its last
  // task worker here, if any, has exited too.
  job_ended_here(id);
  logger("node")->info("job {} (pid {}) {}", id, e.pid, e.message);
  skein::v1::JobEvent ev;
  ev.set_job_id(id);
  ev.set_kind(skein::v1::JOB_EVENT_KIND_EXITED);
  ev.set_pid(e.pid);
  ev.set_exit_code(e.exit_code);
  ev.set_term_signal(e.term_signal);
  if (e.term_signal != 0 || e.exit_code != 0 || e.cancelled) {
    ev.set_error(e.message);
  }
  ev.set_unix_ms(now_unix_ms());
  client_->send_event(std::move(ev));
}

void NodeAgent::spawn_starter_locked(std::function<void()> fn) {
  // Join starters that are done so their threads do not pile up.
  for (auto it = starters_.begin(); it != starters_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = starters_.erase(it);
    } else {
      ++it;
    }
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  starters_.push_back(Starter{std::thread([fn = std::move(fn), done] {
                                fn();
                                done->store(true);
                              }),
                              done});
}

void NodeAgent::on_start_job(const skein::v1::StartJob& cmd) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || cmd.job_id() == 0) {
    return;
  }
  if (!cmd.driver()) {
    // Tasks of this job may come here: have its binary ready, start nothing.
    // Known already (its driver runs here, or a repeat): nothing to do.
    if (tasks_->expect(cmd.job_id())) {
      spawn_starter_locked([this, cmd] { prepare_task_job(cmd); });
    }
    return;
  }
  if (starting_.count(cmd.job_id()) || running_.count(cmd.job_id())) {
    return;  // a StartJob repeated after a reconnect: already on its way
  }
  starting_.insert(cmd.job_id());
  spawn_starter_locked([this, cmd] { start_job(cmd); });
}

void NodeAgent::remember_job(const skein::v1::StartJob& cmd, const UniqueFd& exe,
                             const std::string& job_dir) {
  const std::uint64_t id = cmd.job_id();
  JobTemplate t;
  t.exe.reset(::fcntl(exe.get(), F_DUPFD_CLOEXEC, 0));
  if (!t.exe) {
    tasks_->failed(id, absl::StrCat("dup of the binary descriptor: ", std::strerror(errno)));
    return;
  }
  t.argv.push_back(cmd.name().empty() ? absl::StrCat("job-", id) : cmd.name());
  for (const auto& a : cmd.args()) {
    t.argv.push_back(a);
  }
  t.job_dir = job_dir;
  {
    std::lock_guard<std::mutex> lock(mu_);
    templates_[id] = std::move(t);
  }
  tasks_->ready(id);
  if (!tasks_->knows(id)) {  // cancelled while we fetched
    std::lock_guard<std::mutex> lock(mu_);
    templates_.erase(id);
  }
}

void NodeAgent::prepare_task_job(skein::v1::StartJob cmd) {
  const std::uint64_t id = cmd.job_id();
  auto fd = cache_->open_verified(
      cmd.binary_sha256(), cmd.binary_size(),
      [this, size = cmd.binary_size()](const std::string& sha, const BinaryCache::ChunkSink& sink) {
        return client_->fetch_binary(sha, size, sink);
      });
  if (!fd.ok()) {
    // Not a JobEvent: the job's driver runs elsewhere. Its tasks placed here
    // fail (kWorkerLost) with this reason, so the owner learns it.
    logger("node")->warn("job {}: binary for task workers unavailable: {}", id,
                         std::string(fd.status().message()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      failed_fetches_[id] = cmd;
    }
    tasks_->failed(id, std::string(fd.status().message()));
    return;
  }
  const std::string job_dir = (std::filesystem::path(jobs_dir_) / std::to_string(id)).string();
  std::error_code ec;
  std::filesystem::create_directories(job_dir, ec);
  ::chmod(job_dir.c_str(), 0700);
  remember_job(cmd, *fd, job_dir);
}

absl::StatusOr<pid_t> NodeAgent::launch_task_worker(std::uint64_t job_id,
                                                    std::function<void(pid_t)> on_started) {
  LaunchSpec spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return absl::CancelledError("the agent is shutting down");
    }
    auto t = templates_.find(job_id);
    if (t == templates_.end()) {
      return absl::FailedPreconditionError("the job's binary is not on this node");
    }
    spec.exe.reset(::fcntl(t->second.exe.get(), F_DUPFD_CLOEXEC, 0));
    if (!spec.exe) {
      return absl::InternalError(
          absl::StrCat("dup of the binary descriptor: ", std::strerror(errno)));
    }
    spec.argv = t->second.argv;
    spec.cwd = t->second.job_dir;
  }
  spec.job_id = std::to_string(job_id);
  spec.env = worker_env(job_id, spec.cwd, /*driver=*/false);
  spec.limits = config_.worker_limits;
  spec.on_started = [this, job_id, inner = std::move(on_started)](pid_t pid) {
    {
      std::lock_guard<std::mutex> lock(logs_mu_);
      ++live_[job_id];
    }
    if (inner) {
      inner(pid);
    }
  };
  return supervisor_->launch(std::move(spec));
}

void NodeAgent::route_wg_deltas(skein::v1::WaitGroupDeltaBatch batch) {
  // A delta for an owner that exited: its group is gone too.
  const skein::v1::TaskOwner owner = batch.owner();
  const auto n = static_cast<std::size_t>(batch.deltas_size());
  skein::v1::AgentToWorker m;
  *m.mutable_wg_deltas() = std::move(batch);
  deliver_to_owner(owner, m, n, dropped_wg_deltas_, "wait-group delta(s)");
}

void NodeAgent::route_results(skein::v1::ResultBatch batch) {
  // A result nobody waits for any more (the owner exited): nothing to do but
  // count it.
  const skein::v1::TaskOwner owner = batch.owner();
  const auto n = static_cast<std::size_t>(batch.results_size());
  skein::v1::AgentToWorker m;
  *m.mutable_results() = std::move(batch);
  deliver_to_owner(owner, m, n, dropped_results_, "result(s)");
}

void NodeAgent::deliver_to_owner(const skein::v1::TaskOwner& owner,
                                 const skein::v1::AgentToWorker& m, std::size_t n,
                                 std::atomic<std::uint64_t>& dropped, const char* what) {
  std::string why;
  if (owner.node_id() != client_->node_id()) {
    why = absl::StrCat("owner is on node ", owner.node_id(), ", not here");
  } else {
    absl::Status s =
        server_->send(owner.worker_id(), m, std::chrono::steady_clock::now() + kDownstreamWait);
    if (s.ok()) {
      return;
    }
    why = std::string(s.message());
  }
  // Logged at powers of two, so a dead owner cannot flood the log.
  const std::uint64_t before = dropped.fetch_add(n);
  const std::uint64_t after = before + n;
  if (std::bit_floor(after) > std::bit_floor(before) || before == 0) {
    logger("node")->info("dropped {} {} so far; latest: {}", after, what, why);
  }
}

void NodeAgent::job_ended_here(std::uint64_t job_id) {
  tasks_->forget(job_id, "its driver exited");
  {
    std::lock_guard<std::mutex> lock(mu_);
    templates_.erase(job_id);
    failed_fetches_.erase(job_id);
  }
  std::lock_guard<std::mutex> lock(logs_mu_);
  ended_here_.insert(job_id);
  while (ended_here_.size() > kMaxEndedJobs) {
    ended_here_.erase(ended_here_.begin());
  }
  end_output_if_done_locked(job_id);
}

void NodeAgent::end_output_if_done_locked(std::uint64_t job_id) {
  if (ended_here_.count(job_id) == 0 || live_.count(job_id) > 0) {
    return;
  }
  // Sent again if a late process of the job comes and goes: the coordinator
  // counts the first per node, and a repeat costs one small message.
  skein::v1::LogChunk chunk;
  chunk.set_job_id(job_id);
  chunk.set_source(skein::v1::LOG_SOURCE_AGENT);
  chunk.set_end_of_output(true);
  chunk.set_unix_ms(now_unix_ms());
  client_->send_log(std::move(chunk));
}

void NodeAgent::log_system(std::uint64_t job_id, const std::string& line) {
  const std::string key = std::to_string(job_id);
  {
    std::lock_guard<std::mutex> lock(logs_mu_);
    auto& log = logs_[key];
    if (!log) {
      log = std::make_unique<JobLog>(std::filesystem::path(jobs_dir_) / key,
                                     config_.job_log_max_bytes);
    }
    // The local file mixes the job's own output: mark what Skein wrote.
    [[maybe_unused]] absl::Status s = log->append(absl::StrCat("[skein] ", line));
  }
  skein::v1::LogChunk chunk;
  chunk.set_job_id(job_id);
  chunk.set_stream(skein::v1::LOG_STREAM_SYSTEM);
  chunk.set_source(skein::v1::LOG_SOURCE_AGENT);
  chunk.set_data(line.substr(0, kMaxLogChunk));
  chunk.set_unix_ms(now_unix_ms());
  client_->send_log(std::move(chunk));
}

void NodeAgent::fail_to_start(std::uint64_t job_id, const absl::Status& why) {
  logger("node")->warn("job {} failed to start: {}", job_id, std::string(why.message()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    starting_.erase(job_id);
    cancel_early_.erase(job_id);
  }
  skein::v1::JobEvent ev;
  ev.set_job_id(job_id);
  ev.set_kind(skein::v1::JOB_EVENT_KIND_FAILED_TO_START);
  ev.set_error(std::string(why.message()));
  ev.set_unix_ms(now_unix_ms());
  client_->send_event(std::move(ev));
}

std::vector<std::string> NodeAgent::worker_env(std::uint64_t job_id, const std::string& job_dir,
                                               bool driver) const {
  std::vector<std::string> env;
  bool have_path = false;
  for (const char* name : kInheritedEnv) {
    if (const char* v = std::getenv(name)) {
      env.push_back(absl::StrCat(name, "=", v));
      have_path = have_path || std::string_view(name) == "PATH";
    }
  }
  if (!have_path) {
    env.push_back(absl::StrCat("PATH=", kDefaultPath));
  }
  env.push_back(absl::StrCat("HOME=", job_dir));
  env.push_back(absl::StrCat("SKEIN_JOB_ID=", job_id));
  env.push_back(absl::StrCat("SKEIN_AGENT_SOCKET=", server_->path()));
  env.push_back(absl::StrCat("SKEIN_NODE_ID=", client_->node_id()));
  env.push_back(driver ? "SKEIN_WORKER_ROLE=driver" : "SKEIN_WORKER_ROLE=task");
  return env;
}

void NodeAgent::start_job(skein::v1::StartJob cmd) {
  const std::uint64_t id = cmd.job_id();
  const auto began = std::chrono::steady_clock::now();
  auto fd = cache_->open_verified(
      cmd.binary_sha256(), cmd.binary_size(),
      [this, size = cmd.binary_size()](const std::string& sha, const BinaryCache::ChunkSink& sink) {
        return client_->fetch_binary(sha, size, sink);
      });
  if (!fd.ok()) {
    fail_to_start(id, fd.status());
    return;
  }
  const std::string job_dir = (std::filesystem::path(jobs_dir_) / std::to_string(id)).string();
  std::error_code ec;
  std::filesystem::create_directories(job_dir, ec);
  ::chmod(job_dir.c_str(), 0700);
  // Tasks of this job may be placed on the driver's node too.
  if (tasks_->expect(id)) {
    remember_job(cmd, *fd, job_dir);
  }

  LaunchSpec spec;
  spec.job_id = std::to_string(id);
  spec.exe = std::move(*fd);
  spec.argv.push_back(cmd.name().empty() ? absl::StrCat("job-", id) : cmd.name());
  for (const auto& a : cmd.args()) {
    spec.argv.push_back(a);
  }
  spec.env = worker_env(id, job_dir, /*driver=*/true);
  spec.cwd = job_dir;
  spec.limits = config_.worker_limits;
  spec.on_started = [this, id](pid_t pid) {
    {
      std::lock_guard<std::mutex> lock(logs_mu_);
      ++live_[id];
      drivers_[id] = pid;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      starting_.erase(id);
      running_.insert(id);
    }
    skein::v1::JobEvent ev;
    ev.set_job_id(id);
    ev.set_kind(skein::v1::JOB_EVENT_KIND_STARTED);
    ev.set_pid(pid);
    ev.set_unix_ms(now_unix_ms());
    client_->send_event(std::move(ev));
  };
  bool cancelled_early;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_early = cancel_early_.count(id) > 0 || stopping_;
  }
  if (cancelled_early) {
    fail_to_start(id, absl::CancelledError("cancelled before it started"));
    return;
  }
  auto pid = supervisor_->launch(std::move(spec));
  if (!pid.ok()) {
    fail_to_start(id, pid.status());
    return;
  }
  logger("node")->info("job {} started as pid {} in {} ms", id, *pid,
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - began)
                           .count());
  // A cancel that raced with the launch.
  bool cancel_now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_now = cancel_early_.erase(id) > 0;
  }
  if (cancel_now) {
    [[maybe_unused]] absl::Status s = supervisor_->cancel(std::to_string(id));
  }
}

void NodeAgent::on_cancel_job(const skein::v1::CancelJobCommand& cmd) {
  const std::uint64_t id = cmd.job_id();
  tasks_->forget(id, cmd.reason().empty() ? std::string("cancelled")
                                          : absl::StrCat("cancelled: ", cmd.reason()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    templates_.erase(id);
    failed_fetches_.erase(id);
    if (starting_.count(id)) {
      cancel_early_.insert(id);
    }
  }
  // Every worker of the job here: its driver and its task worker(s). A
  // task worker flushes its stdio on SIGTERM (the SDK), and its pipes are
  // drained before its exit is reported; then end_of_output goes up.
  absl::Status s =
      supervisor_->cancel(std::to_string(id), std::chrono::milliseconds(cmd.grace_ms()));
  if (!s.ok()) {
    logger("node")->info("cancel job {}: {}", id, std::string(s.message()));
  }
  std::lock_guard<std::mutex> lock(logs_mu_);
  ended_here_.insert(id);
  while (ended_here_.size() > kMaxEndedJobs) {
    ended_here_.erase(ended_here_.begin());
  }
  end_output_if_done_locked(id);
}

void NodeAgent::on_node_lost(const std::string& why) {
  logger("node")->warn("coordinator no longer knows this node ({}); killing its workers", why);
  std::vector<std::uint64_t> known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, t] : templates_) {
      known.push_back(id);
    }
    for (const auto& [id, cmd] : failed_fetches_) {
      known.push_back(id);
    }
    templates_.clear();
    failed_fetches_.clear();
  }
  for (std::uint64_t id : known) {
    tasks_->forget(id, "the node was lost");
  }
  for (std::uint64_t id : running_job_ids()) {
    tasks_->forget(id, "the node was lost");
    [[maybe_unused]] absl::Status s = supervisor_->cancel(std::to_string(id));
  }
}

std::vector<std::uint64_t> NodeAgent::running_job_ids() {
  std::set<std::uint64_t> ids;
  if (tasks_) {
    for (std::uint64_t id : tasks_->jobs_with_workers()) {
      ids.insert(id);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  ids.insert(running_.begin(), running_.end());
  return std::vector<std::uint64_t>(ids.begin(), ids.end());
}

skein::v1::Heartbeat NodeAgent::heartbeat() {
  skein::v1::Heartbeat hb;
  const auto jobs = running_job_ids();
  skein::v1::NodeLoad& load = *hb.mutable_load();
  load = load_.sample(static_cast<int>(jobs.size()), static_cast<int>(supervisor_->running()));
  std::int64_t runnable = 0;
  std::int64_t busy = 0;
  std::int64_t procs = 0;
  for (auto& s : server_->snapshot()) {
    runnable += s.sched().runnable();
    busy += s.sched().busy_procs();
    procs += s.sched().procs();
    *hb.add_jobs() = std::move(s);
  }
  load.set_runnable_goroutines(runnable);
  load.set_busy_procs(static_cast<std::int32_t>(busy));
  load.set_procs(static_cast<std::int32_t>(procs));
  load.set_tasks_in_flight(static_cast<std::int64_t>(tasks_->in_flight()));
  return hb;
}

}  // namespace skein::node
