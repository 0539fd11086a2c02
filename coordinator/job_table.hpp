// JobTable: the job records and their lifecycle state machine.
//
// States (skein.v1.JobState) and what each one means for ownership:
//   PENDING    accepted and journaled. driver_node == "" : unplaced, waiting
//              for a live node; driver_node != "" : StartJob sent (or to be
//              sent when the node's stream attaches), not yet confirmed.
//   RUNNING    the driver node reported the driver worker started; that node
//              owns the job's processes.
//   SUCCEEDED  terminal: exit code 0.
//   FAILED     terminal: non-zero exit, signal, start failure, node lost or
//              coordinator restart; `error` says which.
//   CANCELLED  terminal: a user cancelled it.
// Legal transitions (checked on every change, never bypassed):
//   PENDING -> RUNNING | FAILED | CANCELLED;  RUNNING -> SUCCEEDED | FAILED | CANCELLED.
// Terminal states never change, so a late or duplicated agent event cannot
// rewrite history (it is reported as "ignored").
//
// Idempotency: a non-empty idempotency_key maps to exactly one job, forever
// (the key is part of the journaled record, so it survives restarts).
//
// Every mutator returns the job's new full record; the caller (Cluster)
// journals it before acknowledging anything. Time is passed in (unix ms) so
// tests control it. Thread-safety: none; Cluster serializes under its lock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skein/v1/common.pb.h"

namespace skein::coordinator {

bool is_terminal(v1::JobState state);
const char* state_name(v1::JobState state);  // "RUNNING"

class JobTable {
 public:
  struct NewJob {
    std::string binary_sha256;
    uint64_t binary_size = 0;
    std::vector<std::string> args;
    std::string idempotency_key;
    std::string pinned_node;
    std::string name;
    // SKEIN_REMOTE names listed at submit time; `remote_functions_known`
    // false means nobody listed them (every name is placed).
    std::vector<std::string> remote_functions;
    bool remote_functions_known = false;
  };

  // The job for new_job.idempotency_key if one exists (second = false), else
  // a new PENDING job (second = true).
  std::pair<v1::JobInfo, bool> create(const NewJob& new_job, int64_t now_ms);

  const v1::JobInfo* find(uint64_t job_id) const;
  // Newest first; empty `states` = all.
  std::vector<v1::JobInfo> list(const std::vector<v1::JobState>& states, uint32_t limit) const;
  // Non-terminal jobs whose driver is `node_id`.
  std::vector<uint64_t> active_on(const std::string& node_id) const;
  std::vector<uint64_t> unplaced() const;  // PENDING with no driver node, oldest first
  std::map<std::string, int> active_count_by_node() const;
  std::map<std::string, int> placed_count_by_node() const;  // all states

  // Transitions. NOT_FOUND for an unknown job; FAILED_PRECONDITION for an
  // illegal transition (including any change to a terminal job).
  absl::StatusOr<v1::JobInfo> place(uint64_t job_id, const std::string& node_id);
  absl::StatusOr<v1::JobInfo> mark_running(uint64_t job_id, int64_t now_ms);
  // Driver exited: SUCCEEDED for code 0 without signal, CANCELLED if a cancel
  // was requested, else FAILED.
  absl::StatusOr<v1::JobInfo> mark_exited(uint64_t job_id, int exit_code, int term_signal,
                                          int64_t now_ms);
  absl::StatusOr<v1::JobInfo> mark_failed(uint64_t job_id, const std::string& error,
                                          int64_t now_ms);
  // PENDING -> CANCELLED at once; RUNNING -> cancel_requested (the job stays
  // RUNNING until the exit arrives). Already CANCELLED: returns it unchanged.
  absl::StatusOr<v1::JobInfo> request_cancel(uint64_t job_id, const std::string& reason,
                                             int64_t now_ms);
  // The driver node is gone: CANCELLED if a cancel was pending, else FAILED.
  absl::StatusOr<v1::JobInfo> mark_node_lost(uint64_t job_id, const std::string& error,
                                             int64_t now_ms);

  // Replay: installs a journaled snapshot (the last one per job wins).
  void restore(const v1::JobInfo& job);
  // After replay: jobs that a node may have been running when the
  // coordinator stopped (RUNNING, or PENDING already handed to a node) become
  // FAILED "coordinator restarted while the job ran"; unplaced PENDING jobs
  // stay and will be placed. Returns the changed records.
  std::vector<v1::JobInfo> fail_in_flight_after_restart(int64_t now_ms);

  size_t size() const { return jobs_.size(); }
  uint64_t next_id() const { return next_id_; }

 private:
  absl::StatusOr<v1::JobInfo*> get(uint64_t job_id);
  // The one place a state changes: checks the (from, to) pair.
  absl::Status transition(v1::JobInfo& job, v1::JobState to);

  std::map<uint64_t, v1::JobInfo> jobs_;    // by job id (ids are dense and increasing)
  std::map<std::string, uint64_t> by_key_;  // idempotency key -> job id
  uint64_t next_id_ = 1;                    // > every id in jobs_
};

}  // namespace skein::coordinator
