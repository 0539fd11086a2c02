// TaskLedger: the tasks this node accepted for its task workers and has not
// seen an outcome for (docs/wire.md "Task dispatch", target agent).
//
// Entries are grouped by slot: one slot per task-worker launch (an agent-local
// serial, so a fresh worker of the same job never inherits its predecessor's
// entries). A task is recorded when the agent accepts it for a slot (also
// while it still waits for the worker's hello), cleared when the worker's
// result for that (owner, task_id, attempt) passes through, and handed back
// as kWorkerLost when the slot's worker is gone: so no task placed here can
// be forgotten silently (RELIABILITY R2).
//
// Invariant: size() == the number of (slot, job, owner, task_id, attempt)
// entries; an empty owner group or slot is erased at once.
//
// Not thread-safe: the owner (TaskHost) serializes calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "skein/v1/task.pb.h"

namespace skein::node {

// skein::TaskError::kWorkerLost on the wire (node/include/skein/remote_error.hpp).
inline constexpr std::uint32_t kTaskErrorWorkerLost = 5;
// A ResultBatch carries at most this many entries (docs/wire.md).
inline constexpr int kMaxBatchEntries = 1024;

class TaskLedger {
 public:
  void add(std::uint64_t slot, const skein::v1::TaskBatch& batch);
  // Clears the entries these results answer; returns how many it cleared.
  std::size_t clear(std::uint64_t slot, const skein::v1::ResultBatch& results);
  // Removes every entry of the slot and returns them as failed results
  // (error kWorkerLost, `why` as message, `node` as reporting node), one
  // batch per (job, owner) of at most kMaxBatchEntries.
  std::vector<skein::v1::ResultBatch> take_lost(std::uint64_t slot, std::string_view why,
                                                std::string_view node);
  std::size_t size() const { return size_; }
  std::size_t size(std::uint64_t slot) const;

 private:
  using OwnerKey = std::tuple<std::uint64_t, std::string, std::uint64_t>;  // job, node, worker
  using Attempts = std::set<std::pair<std::uint64_t, std::uint32_t>>;      // task_id, attempt
  std::map<std::uint64_t, std::map<OwnerKey, Attempts>> slots_;
  std::size_t size_ = 0;
};

// Results that fail a whole batch with kWorkerLost (a task that can go
// nowhere), at most kMaxBatchEntries per batch.
std::vector<skein::v1::ResultBatch> lost_results(const skein::v1::TaskBatch& batch,
                                                 std::string_view why, std::string_view node);

}  // namespace skein::node
