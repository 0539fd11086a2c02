// TaskTable: every task the coordinator has placed and not yet seen finish
// (docs/wire.md "Task dispatch"). It exists so that a node's death can be
// turned into kNodeLost results for the tasks that were running there, and so
// that placement knows how many tasks each node is already carrying.
//
// Layout, chosen for the hot path (one insert and one erase per task) and for
// memory per in-flight task: one open-addressing hash map per job, keyed by
// (owner node, owner worker, task id) with node ids interned as small
// integers by the caller, holding only {attempt, node}. A slot is 32 bytes
// plus one control byte; no per-task heap allocation. bytes() reports the
// exact footprint so the cost per task can be stated, not guessed.
//
// Invariants:
//   - at most one entry per (job, owner node, owner worker, task id): a newer
//     attempt replaces the older one (the owner only retries after the old
//     attempt's outcome reached it);
//   - in_flight_on(n) == number of entries whose node is n, at all times;
//   - a job's map is dropped as soon as it is empty or the job is forgotten.
// Thread-safety: none; Cluster serializes calls under its lock.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace skein::coordinator {

using NodeIndex = uint32_t;  // an interned node id (Cluster::NodeIds)

struct TaskKey {
  uint64_t owner_worker = 0;
  uint64_t task_id = 0;
  NodeIndex owner_node = 0;

  bool operator==(const TaskKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const TaskKey& k) {
    return H::combine(std::move(h), k.owner_worker, k.task_id, k.owner_node);
  }
};

struct TaskPlace {
  uint32_t attempt = 0;
  NodeIndex node = 0;
};

// A task taken out of the table because its node died.
struct LostTask {
  uint64_t job_id;
  TaskKey key;
  uint32_t attempt;
};

class TaskTable {
 public:
  // Records `key` of `job_id` in flight on place.node (replacing an older attempt).
  void insert(uint64_t job_id, const TaskKey& key, TaskPlace place);
  // The outcome of (key, attempt) arrived: drops the entry if it is that
  // attempt. False if there was no such entry (duplicate, stale or unknown).
  bool complete(uint64_t job_id, const TaskKey& key, uint32_t attempt);
  // Node `node` died: removes every entry placed there (returned, for the
  // kNodeLost results) and, silently, every entry owned by a worker there
  // (nobody is left to tell).
  std::vector<LostTask> take_node(NodeIndex node);
  // The job ended: drops its entries. Returns how many.
  size_t forget_job(uint64_t job_id);

  int64_t in_flight_on(NodeIndex node) const {
    return node < per_node_.size() ? per_node_[node] : 0;
  }
  size_t size() const { return size_; }
  // Heap bytes held for the entries (hash slots + control bytes + per-job maps).
  size_t bytes() const;

 private:
  using JobMap = absl::flat_hash_map<TaskKey, TaskPlace>;
  void count(NodeIndex node, int64_t delta);

  absl::flat_hash_map<uint64_t, JobMap> jobs_;  // job id -> its tasks in flight
  std::vector<int64_t> per_node_;               // NodeIndex -> entries placed there
  size_t size_ = 0;                             // entries over all jobs
};

}  // namespace skein::coordinator
