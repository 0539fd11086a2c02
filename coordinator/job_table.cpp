#include "job_table.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace skein::coordinator {

bool is_terminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

const char* state_name(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_PENDING:
      return "PENDING";
    case v1::JOB_STATE_RUNNING:
      return "RUNNING";
    case v1::JOB_STATE_SUCCEEDED:
      return "SUCCEEDED";
    case v1::JOB_STATE_FAILED:
      return "FAILED";
    case v1::JOB_STATE_CANCELLED:
      return "CANCELLED";
    default:
      return "UNSPECIFIED";
  }
}

std::pair<v1::JobInfo, bool> JobTable::create(const NewJob& n, int64_t now_ms) {
  if (!n.idempotency_key.empty()) {
    auto it = by_key_.find(n.idempotency_key);
    if (it != by_key_.end()) {
      return {jobs_.at(it->second), false};
    }
  }
  v1::JobInfo job;
  job.set_job_id(next_id_++);
  job.set_state(v1::JOB_STATE_PENDING);
  job.set_binary_sha256(n.binary_sha256);
  job.set_binary_size(n.binary_size);
  for (const auto& a : n.args) {
    job.add_args(a);
  }
  job.set_idempotency_key(n.idempotency_key);
  job.set_pinned_node(n.pinned_node);
  job.set_name(n.name);
  for (const auto& f : n.remote_functions) {
    job.add_remote_functions(f);
  }
  job.set_remote_functions_known(n.remote_functions_known);
  job.set_submitted_unix_ms(now_ms);
  if (!n.idempotency_key.empty()) {
    by_key_[n.idempotency_key] = job.job_id();
  }
  jobs_[job.job_id()] = job;
  return {job, true};
}

const v1::JobInfo* JobTable::find(uint64_t job_id) const {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : &it->second;
}

std::vector<v1::JobInfo> JobTable::list(const std::vector<v1::JobState>& states,
                                        uint32_t limit) const {
  std::vector<v1::JobInfo> out;
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    if (!states.empty() &&
        std::find(states.begin(), states.end(), it->second.state()) == states.end()) {
      continue;
    }
    out.push_back(it->second);
    if (limit != 0 && out.size() >= limit) {
      break;
    }
  }
  return out;
}

std::vector<uint64_t> JobTable::active_on(const std::string& node_id) const {
  std::vector<uint64_t> out;
  for (const auto& [id, job] : jobs_) {
    if (!is_terminal(job.state()) && job.driver_node() == node_id) {
      out.push_back(id);
    }
  }
  return out;
}

std::vector<uint64_t> JobTable::unplaced() const {
  std::vector<uint64_t> out;
  for (const auto& [id, job] : jobs_) {
    if (job.state() == v1::JOB_STATE_PENDING && job.driver_node().empty()) {
      out.push_back(id);
    }
  }
  return out;
}

std::map<std::string, int> JobTable::active_count_by_node() const {
  std::map<std::string, int> out;
  for (const auto& [id, job] : jobs_) {
    if (!is_terminal(job.state()) && !job.driver_node().empty()) {
      ++out[job.driver_node()];
    }
  }
  return out;
}

std::map<std::string, int> JobTable::placed_count_by_node() const {
  std::map<std::string, int> out;
  for (const auto& [id, job] : jobs_) {
    if (!job.driver_node().empty()) {
      ++out[job.driver_node()];
    }
  }
  return out;
}

absl::StatusOr<v1::JobInfo*> JobTable::get(uint64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
  }
  return &it->second;
}

absl::Status JobTable::transition(v1::JobInfo& job, v1::JobState to) {
  v1::JobState from = job.state();
  bool ok = (from == v1::JOB_STATE_PENDING &&
             (to == v1::JOB_STATE_RUNNING || to == v1::JOB_STATE_FAILED ||
              to == v1::JOB_STATE_CANCELLED)) ||
            (from == v1::JOB_STATE_RUNNING &&
             (to == v1::JOB_STATE_SUCCEEDED || to == v1::JOB_STATE_FAILED ||
              to == v1::JOB_STATE_CANCELLED));
  if (!ok) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job.job_id(), " is ", state_name(from), "; cannot become ", state_name(to)));
  }
  job.set_state(to);
  return absl::OkStatus();
}

absl::StatusOr<v1::JobInfo> JobTable::place(uint64_t job_id, const std::string& node_id) {
  auto job = get(job_id);
  if (!job.ok()) {
    return job.status();
  }
  v1::JobInfo& j = **job;
  if (j.state() != v1::JOB_STATE_PENDING || !j.driver_node().empty()) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " is ", state_name(j.state()),
                                                      " and already placed on '", j.driver_node(),
                                                      "'"));
  }
  j.set_driver_node(node_id);
  return j;
}

absl::StatusOr<v1::JobInfo> JobTable::mark_running(uint64_t job_id, int64_t now_ms) {
  auto job = get(job_id);
  if (!job.ok()) {
    return job.status();
  }
  v1::JobInfo& j = **job;
  if (auto s = transition(j, v1::JOB_STATE_RUNNING); !s.ok()) {
    return s;
  }
  j.set_started_unix_ms(now_ms);
  return j;
}

absl::StatusOr<v1::JobInfo> JobTable::mark_exited(uint64_t job_id, int exit_code, int term_signal,
                                                  int64_t now_ms) {
  auto job = get(job_id);
  if (!job.ok()) {
    return job.status();
  }
  v1::JobInfo& j = **job;
  v1::JobState to;
  std::string error;
  if (j.cancel_requested()) {
    to = v1::JOB_STATE_CANCELLED;
    error = j.error().empty() ? "cancelled" : j.error();
  } else if (term_signal > 0) {
    to = v1::JOB_STATE_FAILED;
    const char* name = sigabbrev_np(term_signal);
    error = absl::StrCat("killed by signal ", term_signal,
                         name ? absl::StrCat(" (SIG", name, ")") : std::string());
  } else if (exit_code != 0) {
    to = v1::JOB_STATE_FAILED;
    error = absl::StrCat("exit code ", exit_code);
  } else {
    to = v1::JOB_STATE_SUCCEEDED;
  }
  // A job that exits before its STARTED event arrived still ran.
  if (j.state() == v1::JOB_STATE_PENDING && to == v1::JOB_STATE_SUCCEEDED) {
    if (auto s = transition(j, v1::JOB_STATE_RUNNING); !s.ok()) {
      return s;
    }
    j.set_started_unix_ms(now_ms);
  }
  if (auto s = transition(j, to); !s.ok()) {
    return s;
  }
  j.set_exited(true);
  j.set_exit_code(exit_code);
  j.set_term_signal(term_signal);
  j.set_error(error);
  j.set_finished_unix_ms(now_ms);
  return j;
}

absl::StatusOr<v1::JobInfo> JobTable::mark_failed(uint64_t job_id, const std::string& error,
                                                  int64_t now_ms) {
  auto job = get(job_id);
  if (!job.ok()) {
    return job.status();
  }
  v1::JobInfo& j = **job;
  if (auto s = transition(j, v1::JOB_STATE_FAILED); !s.ok()) {
    return s;
  }
  j.set_error(error);
  j.set_finished_unix_ms(now_ms);
  return j;
}

absl::StatusOr<v1::JobInfo> JobTable::request_cancel(uint64_t job_id, const std::string& reason,
                                                     int64_t now_ms) {
  auto job = get(job_id);
  if (!job.ok()) {
    return job.status();
  }
  v1::JobInfo& j = **job;
  std::string why = reason.empty() ? "cancelled by user" : absl::StrCat("cancelled: ", reason);
  switch (j.state()) {
    case v1::JOB_STATE_CANCELLED:
      return j;
    case v1::JOB_STATE_PENDING:
      if (auto s = transition(j, v1::JOB_STATE_CANCELLED); !s.ok()) {
        return s;
      }
      j.set_cancel_requested(true);
      j.set_error(why);
      j.set_finished_unix_ms(now_ms);
      return j;
    case v1::JOB_STATE_RUNNING:
      j.set_cancel_requested(true);
      j.set_error(why);
      return j;
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " already ", state_name(j.state()), "; nothing to cancel"));
  }
}

absl::StatusOr<v1::JobInfo> JobTable::mark_node_lost(uint64_t job_id, const std::string& error,
                                                     int64_t now_ms) {
  auto job = get(job_id);
  if (!job.ok()) {
    return job.status();
  }
  v1::JobInfo& j = **job;
  v1::JobState to = j.cancel_requested() ? v1::JOB_STATE_CANCELLED : v1::JOB_STATE_FAILED;
  if (auto s = transition(j, to); !s.ok()) {
    return s;
  }
  if (to == v1::JOB_STATE_FAILED) {
    j.set_error(error);
  }
  j.set_finished_unix_ms(now_ms);
  return j;
}

void JobTable::restore(const v1::JobInfo& job) {
  jobs_[job.job_id()] = job;
  if (!job.idempotency_key().empty()) {
    by_key_[job.idempotency_key()] = job.job_id();
  }
  next_id_ = std::max(next_id_, job.job_id() + 1);
}

std::vector<v1::JobInfo> JobTable::fail_in_flight_after_restart(int64_t now_ms) {
  std::vector<v1::JobInfo> changed;
  for (auto& [id, j] : jobs_) {
    bool in_flight = j.state() == v1::JOB_STATE_RUNNING ||
                     (j.state() == v1::JOB_STATE_PENDING && !j.driver_node().empty());
    if (!in_flight) {
      continue;
    }
    auto r = mark_node_lost(id, "coordinator restarted while the job ran", now_ms);
    if (r.ok()) {
      changed.push_back(*r);
    }
  }
  return changed;
}

}  // namespace skein::coordinator
