#include "agent/task_host.hpp"

#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "skein/common/log.hpp"

namespace skein::node {
namespace {

// Jobs that ended here are remembered (to say why their late tasks are
// refused) up to this many; the oldest ids are forgotten first.
constexpr std::size_t kMaxEndedJobs = 4096;

// Whether pid is a process that has not finished exiting (not a zombie). A
// worker's socket closes during its exit, before it becomes a zombie, so a
// worker that just died may still look alive for a moment; that only adds a
// note to its loss message.
bool process_alive(pid_t pid) {
  if (pid <= 0) {
    return false;
  }
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(f, line)) {
    return false;
  }
  const auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) {
    return false;
  }
  const char state = line[paren + 2];
  return state != 'Z' && state != 'X' && state != 'x';
}

}  // namespace

TaskHost::TaskHost(TaskHostDeps deps, std::size_t max_pending_bytes,
                   std::chrono::milliseconds refetch_after)
    : deps_(std::move(deps)), max_pending_bytes_(max_pending_bytes), refetch_after_(refetch_after) {
  launcher_ = std::thread([this] { launcher_loop(); });
}

TaskHost::~TaskHost() { stop(); }

void TaskHost::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (launcher_.joinable()) {
    launcher_.join();
  }
}

std::string TaskHost::node() const { return deps_.node_id ? deps_.node_id() : std::string(); }

void TaskHost::send_up(std::vector<skein::v1::ResultBatch> batches) {
  for (auto& b : batches) {
    deps_.to_coordinator(std::move(b));
  }
}

bool TaskHost::expect(std::uint64_t job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (jobs_.count(job_id) > 0 || ended_.count(job_id) > 0) {
    return false;
  }
  jobs_.emplace(job_id, Job{});
  return true;
}

bool TaskHost::knows(std::uint64_t job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.count(job_id) > 0;
}

void TaskHost::ready(std::uint64_t job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto j = jobs_.find(job_id);
  if (j == jobs_.end()) {
    return;
  }
  j->second.binary = Binary::kReady;
  if (j->second.current != 0) {
    queue_launch_locked(j->second.current, workers_.at(j->second.current));
  }
}

void TaskHost::failed(std::uint64_t job_id, const std::string& why) {
  const std::string node_id = node();
  std::vector<skein::v1::ResultBatch> lost;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto j = jobs_.find(job_id);
    if (j == jobs_.end()) {
      return;
    }
    j->second.binary = Binary::kFailed;
    j->second.failure = why;
    j->second.failed_at = std::chrono::steady_clock::now();
    if (j->second.current != 0) {
      lost = lose_slot_locked(j->second.current,
                              absl::StrCat("cannot start a task worker for job ", job_id,
                                           " on node ", node_id, ": ", why),
                              node_id);
    }
  }
  send_up(std::move(lost));
}

void TaskHost::forget(std::uint64_t job_id, const std::string& why) {
  const std::string node_id = node();
  std::vector<skein::v1::ResultBatch> lost;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.erase(job_id);
    ended_[job_id] = why;
    while (ended_.size() > kMaxEndedJobs) {
      ended_.erase(ended_.begin());
    }
    // Workers with a process report their exit (the job's cancel kills
    // them); a queued launch notices the job is gone. What waits for a
    // binary that will never come is failed here.
    std::vector<std::uint64_t> idle;
    for (const auto& [slot, w] : workers_) {
      if (w.job_id == job_id && w.pid == 0 && !w.launch_queued) {
        idle.push_back(slot);
      }
    }
    for (std::uint64_t slot : idle) {
      auto b = lose_slot_locked(slot,
                                absl::StrCat("job ", job_id, " ended on node ", node_id,
                                             " before its task worker started: ", why),
                                node_id);
      std::move(b.begin(), b.end(), std::back_inserter(lost));
    }
  }
  send_up(std::move(lost));
}

void TaskHost::queue_launch_locked(std::uint64_t slot, Worker& w) {
  if (!w.launch_queued && w.state == State::kLaunching) {
    w.launch_queued = true;
    launches_.push_back(slot);
    cv_.notify_all();
  }
}

std::vector<skein::v1::ResultBatch> TaskHost::lose_slot_locked(std::uint64_t slot,
                                                               const std::string& why,
                                                               const std::string& node_id) {
  auto lost = ledger_.take_lost(slot, why, node_id);
  auto w = workers_.find(slot);
  if (w != workers_.end()) {
    if (w->second.worker_id != 0) {
      by_conn_.erase(w->second.worker_id);
    }
    auto j = jobs_.find(w->second.job_id);
    if (j != jobs_.end() && j->second.current == slot) {
      j->second.current = 0;
    }
    workers_.erase(w);
  }
  return lost;
}

void TaskHost::tasks(skein::v1::TaskBatch batch) {
  if (batch.tasks_size() == 0) {
    return;
  }
  const std::uint64_t job_id = batch.job_id();
  const std::string node_id = node();
  std::vector<skein::v1::ResultBatch> lost;
  std::uint64_t send_to = 0;
  bool refetch = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto j = jobs_.find(job_id);
    if (stop_) {
      lost = lost_results(batch, absl::StrCat("node ", node_id, " is shutting down"), node_id);
    } else if (j == jobs_.end()) {
      auto e = ended_.find(job_id);
      lost = lost_results(
          batch,
          e != ended_.end()
              ? absl::StrCat("job ", job_id, " has ended on node ", node_id, ": ", e->second)
              : absl::StrCat("node ", node_id, " never got StartJob for job ", job_id),
          node_id);
    } else if (j->second.binary == Binary::kFailed &&
               (!deps_.refetch ||
                std::chrono::steady_clock::now() - j->second.failed_at < refetch_after_)) {
      lost = lost_results(batch,
                          absl::StrCat("cannot start a task worker for job ", job_id, " on node ",
                                       node_id, ": ", j->second.failure),
                          node_id);
    } else {
      Job& job = j->second;
      if (job.binary == Binary::kFailed) {
        job.binary = Binary::kFetching;  // this batch waits for the new attempt
        refetch = true;
      }
      if (job.current == 0) {
        job.current = next_slot_++;
        workers_[job.current].job_id = job_id;
        if (job.binary == Binary::kReady) {
          queue_launch_locked(job.current, workers_[job.current]);
        }
      }
      Worker& w = workers_.at(job.current);
      if (w.state == State::kUp) {
        ledger_.add(job.current, batch);
        send_to = w.worker_id;
      } else {
        // Estimated memory, not wire size: a parsed task costs a few hundred
        // bytes beyond its encoding.
        constexpr std::size_t kTaskMemoryBytes = 256;
        const std::size_t bytes =
            batch.ByteSizeLong() + static_cast<std::size_t>(batch.tasks_size()) * kTaskMemoryBytes;
        if (!w.pending.empty() && w.pending_bytes + bytes > max_pending_bytes_) {
          lost = lost_results(batch,
                              absl::StrCat("the task worker for job ", job_id, " on node ", node_id,
                                           " has not connected yet and ", w.pending_bytes,
                                           " bytes of tasks already wait for it"),
                              node_id);
        } else {
          ledger_.add(job.current, batch);
          w.pending_bytes += bytes;
          w.pending.push_back(std::move(batch));
        }
      }
    }
  }
  if (refetch) {
    logger("node")->info("job {}: fetching its binary again for new tasks", job_id);
    deps_.refetch(job_id);
  }
  if (send_to != 0) {
    skein::v1::AgentToWorker m;
    *m.mutable_tasks() = std::move(batch);
    absl::Status s = deps_.to_worker(send_to, m);
    // NotFound: the connection just closed; gone() and the exit report take
    // care of what is in flight. Anything else: the worker does not read its
    // tasks. Stop it; its exit fails what it holds, and a fresh one starts.
    if (!s.ok() && !absl::IsNotFound(s)) {
      pid_t pid = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto c = by_conn_.find(send_to);
        if (c != by_conn_.end()) {
          Worker& w = workers_.at(c->second);
          pid = w.pid;
          w.note = absl::StrCat("stopped by the agent: ", s.message());
        }
      }
      logger("node")->warn("job {}: task worker {} does not take tasks ({}); stopping it", job_id,
                           pid, std::string(s.message()));
      if (pid > 0) {
        deps_.stop_worker(pid);
      }
    }
  }
  send_up(std::move(lost));
}

void TaskHost::launcher_loop() {
  while (true) {
    std::uint64_t slot;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !launches_.empty(); });
      if (stop_) {
        return;
      }
      slot = launches_.front();
      launches_.pop_front();
    }
    launch_one(slot);
  }
}

void TaskHost::launch_one(std::uint64_t slot) {
  const std::string node_id = node();
  std::uint64_t job_id = 0;
  std::vector<skein::v1::ResultBatch> lost;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto w = workers_.find(slot);
    if (w == workers_.end() || w->second.state != State::kLaunching) {
      return;
    }
    job_id = w->second.job_id;
    if (jobs_.count(job_id) == 0) {
      lost = lose_slot_locked(slot,
                              absl::StrCat("job ", job_id, " ended on node ", node_id,
                                           " before its task worker started"),
                              node_id);
    }
  }
  if (!lost.empty()) {
    send_up(std::move(lost));
    return;
  }
  const auto began = std::chrono::steady_clock::now();
  auto pid = deps_.launch(job_id, [this, slot](pid_t p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto w = workers_.find(slot);
    if (w != workers_.end() && w->second.pid == 0) {
      w->second.pid = p;
    }
  });
  if (!pid.ok()) {
    const std::string why = absl::StrCat("cannot start a task worker for job ", job_id, " on node ",
                                         node_id, ": ", pid.status().message());
    {
      std::lock_guard<std::mutex> lock(mu_);
      lost = lose_slot_locked(slot, why, node_id);
    }
    logger("node")->warn("{}", why);
    if (deps_.log) {
      deps_.log(job_id, absl::StrCat(why, "\n"));
    }
    send_up(std::move(lost));
    return;
  }
  logger("node")->info("job {}: task worker pid {} started in {} ms", job_id, *pid,
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - began)
                           .count());
  bool orphan;
  {
    std::lock_guard<std::mutex> lock(mu_);
    orphan = stop_ || jobs_.count(job_id) == 0;  // the job ended while we forked
  }
  if (orphan) {
    deps_.stop_worker(*pid);
  }
}

bool TaskHost::hello(const WorkerInfo& info) {
  if (info.role != skein::v1::WORKER_ROLE_TASK) {
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto j = jobs_.find(info.job_id);
  if (j == jobs_.end() || j->second.current == 0) {
    return false;
  }
  Worker& w = workers_.at(j->second.current);
  if (w.state != State::kLaunching || (w.pid != 0 && w.pid != info.pid)) {
    return false;
  }
  w.state = State::kUp;
  w.worker_id = info.worker_id;
  if (w.pid == 0) {
    w.pid = info.pid;
  }
  by_conn_[info.worker_id] = j->second.current;
  // On the loop thread to_worker does not wait, and holding mu_ keeps these
  // buffered batches ahead of any batch tasks() sends directly from now on.
  for (auto& b : w.pending) {
    skein::v1::AgentToWorker m;
    *m.mutable_tasks() = std::move(b);
    [[maybe_unused]] absl::Status s = deps_.to_worker(info.worker_id, m);
  }
  w.pending.clear();
  w.pending_bytes = 0;
  return true;
}

void TaskHost::results(const WorkerInfo& info, const skein::v1::ResultBatch& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  auto c = by_conn_.find(info.worker_id);
  if (c != by_conn_.end()) {
    ledger_.clear(c->second, batch);
  }
}

void TaskHost::gone(const WorkerInfo& info) {
  pid_t pid = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto c = by_conn_.find(info.worker_id);
    if (c == by_conn_.end()) {
      return;
    }
    const std::uint64_t slot = c->second;
    by_conn_.erase(c);
    Worker& w = workers_.at(slot);
    w.state = State::kGone;
    w.worker_id = 0;
    pid = w.pid;
    if (w.note.empty() && process_alive(w.pid)) {
      w.note = "it had closed its connection to the agent and was stopped";
    }
    auto j = jobs_.find(w.job_id);
    if (j != jobs_.end() && j->second.current == slot) {
      j->second.current = 0;  // the next batch starts a fresh worker
    }
  }
  // Usually the process is already dead and this is a no-op; a worker that
  // closed its socket but lives on must not hold tasks forever.
  if (pid > 0) {
    deps_.stop_worker(pid);
  }
}

bool TaskHost::exited(std::uint64_t job_id, pid_t pid, const std::string& description) {
  const std::string node_id = node();
  std::vector<skein::v1::ResultBatch> lost;
  std::size_t n = 0;
  bool job_over = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_over = jobs_.count(job_id) == 0;
    std::uint64_t slot = 0;
    for (const auto& [s, w] : workers_) {
      if (w.job_id == job_id && w.pid == pid) {
        slot = s;
        break;
      }
    }
    if (slot == 0) {
      return false;
    }
    const Worker& w = workers_.at(slot);
    std::string why = absl::StrCat("worker pid ", pid, " on node ", node_id, " ", description);
    if (!w.note.empty()) {
      absl::StrAppend(&why, "; ", w.note);
    }
    n = ledger_.size(slot);
    lost = lose_slot_locked(slot, why, node_id);
  }
  const std::string line = absl::StrCat("task worker pid ", pid, " on node ", node_id, " ",
                                        description, "; ", n, " task(s) in flight lost\n");
  logger("node")->info("job {}: {}", job_id, line.substr(0, line.size() - 1));
  // Every task worker is stopped when its job ends: that is no news for the
  // job's log, unless tasks died with it.
  if (deps_.log && (!job_over || n > 0)) {
    deps_.log(job_id, line);
  }
  send_up(std::move(lost));
  return true;
}

std::size_t TaskHost::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ledger_.size();
}

std::vector<std::uint64_t> TaskHost::jobs_with_workers() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::uint64_t> jobs;
  for (const auto& [slot, w] : workers_) {
    if (w.pid != 0) {
      jobs.insert(w.job_id);
    }
  }
  return {jobs.begin(), jobs.end()};
}

}  // namespace skein::node
