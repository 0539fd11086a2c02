// Membership: which nodes exist, which are alive, and the failure detector.
//
// Model (RELIABILITY R3): a node is one *registration* of an agent. Register
// hands out a fresh node id "node-<epoch>" and epoch, where epoch comes from
// one strictly increasing counter that is journaled, so ids are never reused,
// not even across coordinator restarts. A node is ALIVE until
// heartbeat_period * miss_limit passes with no message from it; then it is
// DEAD, finally: every later message carrying its (node_id, epoch) is
// rejected with FAILED_PRECONDITION, and the agent must register again as a
// new node. A restarted agent is therefore always a new node, and a paused
// or partitioned agent that comes back cannot act under its old identity.
//
// Time: liveness uses steady_clock time points passed in by the caller, never
// the wall clock (immune to clock steps); tests drive it with fake instants.
// Thread-safety: none; Cluster serializes calls under its lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skein/v1/common.pb.h"
#include "skein/v1/coordinator.pb.h"
#include "skein/v1/node.pb.h"

namespace skein::coordinator {

using SteadyTime = std::chrono::steady_clock::time_point;

struct MembershipConfig {
  // How often an agent must send something. Production default 1 s.
  std::chrono::milliseconds heartbeat_period{1000};
  // Consecutive missed periods before a node is declared dead (detection
  // bound = heartbeat_period * miss_limit). Production default 5; tests use
  // 100 ms x 5.
  int miss_limit = 5;

  std::chrono::milliseconds dead_after() const { return heartbeat_period * miss_limit; }
};

// Sums the workers' stats of one node into its NodeStats.total row.
void sum_sched(const google::protobuf::RepeatedPtrField<v1::JobStats>& jobs, v1::SchedStats* out);

class Membership {
 public:
  explicit Membership(MembershipConfig config) : config_(config) {}

  const MembershipConfig& config() const { return config_; }

  // Validates the request (INVALID_ARGUMENT: cpus <= 0, negative memory) and
  // creates an ALIVE node. The caller journals the returned record.
  absl::StatusOr<v1::NodeInfo> register_node(const v1::RegisterRequest& req,
                                             const std::string& identity, SteadyTime now,
                                             int64_t now_unix_ms);

  // OK iff (node_id, epoch) names an ALIVE node. NOT_FOUND for an unknown id,
  // FAILED_PRECONDITION for a dead node or a stale epoch.
  absl::Status check_alive(const std::string& node_id, uint64_t epoch) const;

  // Records a sign of life (any message). Same errors as check_alive.
  absl::Status touch(const std::string& node_id, uint64_t epoch, SteadyTime now,
                     int64_t now_unix_ms);
  // touch() plus the heartbeat's load and stats.
  absl::Status record_heartbeat(const std::string& node_id, uint64_t epoch, const v1::Heartbeat& hb,
                                SteadyTime now, int64_t now_unix_ms);

  // Declares dead every ALIVE node silent for longer than dead_after();
  // returns them (already marked DEAD).
  std::vector<v1::NodeInfo> expire(SteadyTime now);
  // Declares one node dead now (e.g. on shutdown). No-op if already dead.
  std::optional<v1::NodeInfo> declare_dead(const std::string& node_id, const std::string& reason);

  std::vector<v1::NodeInfo> list(bool include_dead) const;
  std::vector<v1::NodeStats> stats() const;  // ALIVE nodes, by node id
  const v1::NodeInfo* find(const std::string& node_id) const;
  // The load of an ALIVE node's last heartbeat (zeros before the first);
  // nullptr for an unknown or dead node. Cheap: no copy (task placement).
  const v1::NodeLoad* alive_load(const std::string& node_id) const;
  bool is_alive(const std::string& node_id) const;

  // Replay: the epoch counter moves past `node`. With recovery_window == 0 the
  // node comes back DEAD (its agent must register again). Otherwise it comes
  // back ALIVE but silent, and is declared dead unless its agent reconnects
  // (Connect with the same node_id/epoch) within recovery_window of `now`.
  void restore(const v1::NodeInfo& node, SteadyTime now, std::chrono::milliseconds recovery_window);
  uint64_t next_epoch() const { return next_epoch_; }

 private:
  struct Node {
    v1::NodeInfo info;
    SteadyTime last_seen;     // meaningful while ALIVE
    v1::NodeStats latest;     // load + job stats of the last heartbeat
    bool recovering = false;  // restored after a restart, not heard from since
  };
  absl::StatusOr<Node*> alive_node(const std::string& node_id, uint64_t epoch);

  MembershipConfig config_;
  std::map<std::string, Node> nodes_;  // by node id; DEAD nodes stay for ListNodes
  uint64_t next_epoch_ = 1;            // > every epoch ever handed out
};

}  // namespace skein::coordinator
