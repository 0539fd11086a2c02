// JobOutput: which nodes may still send output of a job, so a followed
// StreamLogs ends only once every line of every process of the job is stored
// (issue 10, docs/wire.md "LogChunk").
//
// Model. A job's output comes from every node that ran one of its processes:
// the driver's node and each node that got StartJob{driver: false}. Each such
// node is a *source*; it is open from the moment it is told to run the job
// (expect) until its agent sends a LogChunk with end_of_output, which it does
// once the job has ended there and every process of the job on it has exited
// and been drained (all their output precedes the marker on the agent's one
// ordered outbox). A source also closes when its node dies.
//
// The job's end and its output race by design: task workers are ended
// *because* the job became terminal, and flush what they printed as they
// exit. So "terminal" no longer means "everything stored"; "terminal and
// settled" does:
//     settled(job) = no open source, or `linger` has passed since the job
//                    was seen terminal (an agent too old to send the marker,
//                    or a marker lost with a broken stream).
// Output of a source is stored whether the source is open or closed (a
// marker does not reopen, but late output is still kept), until `retention`
// after the linger; then the entry is dropped and only the driver's node is
// accepted (Cluster's rule before issue 10).
//
// Rejected: ending followers a fixed time after the terminal event (every
// `submit --wait` would pay it); making the job terminal only after its task
// workers drained (a job's state would depend on its helpers' exits, and the
// driver's exit code is what users script against).
//
// Not thread-safe: owned by Cluster, every call under Cluster::mu_. Memory:
// one entry per job that ran somewhere, with its nodes' ids, until `retention`
// after it settled. Not persisted: after a coordinator restart a job has no
// entry and is settled at once (followers end as before issue 10).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace skein::coordinator {

class JobOutput {
 public:
  using Time = std::chrono::steady_clock::time_point;

  JobOutput(std::chrono::milliseconds linger, std::chrono::milliseconds retention)
      : linger_(linger), retention_(retention) {}

  // `node` was told to run a process of the job: its output is accepted and
  // the job is not settled until it sends end_of_output (or dies).
  void expect(uint64_t job_id, const std::string& node_id);
  // Whether output of the job from `node_id` may be stored.
  bool accepts(uint64_t job_id, const std::string& node_id) const;
  // end_of_output from the node (or its driver failed to start there). True
  // if that closed an open source (followers should look again).
  bool close(uint64_t job_id, const std::string& node_id);
  // The job is terminal (first call counts): the linger clock starts.
  void job_ended(uint64_t job_id, Time now);
  // The node died: its sources close. Returns the jobs that changed.
  std::vector<uint64_t> node_gone(const std::string& node_id);
  // For a terminal job: true while output may still come (see the model).
  // Starts the linger clock if job_ended was not called yet.
  bool pending(uint64_t job_id, Time now);
  // Jobs whose linger ran out since the last call (followers must look
  // again); entries past their retention are dropped.
  std::vector<uint64_t> expire(Time now);

  size_t size() const { return jobs_.size(); }

 private:
  struct Entry {
    std::set<std::string> nodes;  // every source ever expected
    std::set<std::string> open;   // subset of nodes: no end_of_output yet
    std::optional<Time> ended;    // when the job was seen terminal
    bool lingered_out = false;    // expire() already reported the linger's end
  };

  const std::chrono::milliseconds linger_;
  const std::chrono::milliseconds retention_;
  std::map<uint64_t, Entry> jobs_;
};

}  // namespace skein::coordinator
