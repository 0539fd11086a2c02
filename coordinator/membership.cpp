#include "membership.hpp"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace skein::coordinator {
namespace {

// node-2 sorts before node-10: numeric order of the epoch suffix.
bool node_id_less(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) {
    return a.size() < b.size();
  }
  return a < b;
}

}  // namespace

void sum_sched(const google::protobuf::RepeatedPtrField<v1::JobStats>& jobs, v1::SchedStats* out) {
  out->Clear();
  for (const auto& j : jobs) {
    const v1::SchedStats& s = j.sched();
    out->set_goroutines(out->goroutines() + s.goroutines());
    out->set_running(out->running() + s.running());
    out->set_runnable(out->runnable() + s.runnable());
    out->set_blocked(out->blocked() + s.blocked());
    out->set_procs(out->procs() + s.procs());
    out->set_busy_procs(out->busy_procs() + s.busy_procs());
    out->set_threads(out->threads() + s.threads());
    out->set_idle_threads(out->idle_threads() + s.idle_threads());
    out->set_global_runq(out->global_runq() + s.global_runq());
    out->set_stack_bytes_reserved(out->stack_bytes_reserved() + s.stack_bytes_reserved());
    out->set_stack_bytes_resident(out->stack_bytes_resident() + s.stack_bytes_resident());
    out->set_timers(out->timers() + s.timers());
    out->set_spawned(out->spawned() + s.spawned());
    out->set_finished(out->finished() + s.finished());
    out->set_context_switches(out->context_switches() + s.context_switches());
    out->set_steals(out->steals() + s.steals());
    out->set_stolen(out->stolen() + s.stolen());
    out->set_parks(out->parks() + s.parks());
    out->set_unparks(out->unparks() + s.unparks());
    out->set_thread_parks(out->thread_parks() + s.thread_parks());
    out->set_thread_wakes(out->thread_wakes() + s.thread_wakes());
    out->set_long_running(out->long_running() + s.long_running());
    out->set_sampled_unix_ms(std::max(out->sampled_unix_ms(), s.sampled_unix_ms()));
  }
}

absl::StatusOr<v1::NodeInfo> Membership::register_node(const v1::RegisterRequest& req,
                                                       const std::string& identity, SteadyTime now,
                                                       int64_t now_unix_ms) {
  if (req.resources().cpus() <= 0) {
    return absl::InvalidArgumentError("register: resources.cpus must be > 0");
  }
  if (req.resources().memory_bytes() < 0) {
    return absl::InvalidArgumentError("register: resources.memory_bytes must be >= 0");
  }
  uint64_t epoch = next_epoch_++;
  Node node;
  node.info.set_node_id(absl::StrCat("node-", epoch));
  node.info.set_epoch(epoch);
  node.info.set_address(req.address());
  *node.info.mutable_resources() = req.resources();
  node.info.set_state(v1::NODE_STATE_ALIVE);
  node.info.set_hostname(req.hostname());
  node.info.set_identity(identity);
  node.info.set_registered_unix_ms(now_unix_ms);
  node.info.set_last_heartbeat_unix_ms(now_unix_ms);
  node.last_seen = now;
  v1::NodeInfo out = node.info;
  nodes_[out.node_id()] = std::move(node);
  return out;
}

absl::StatusOr<Membership::Node*> Membership::alive_node(const std::string& node_id,
                                                         uint64_t epoch) {
  if (node_id.empty()) {
    return absl::InvalidArgumentError("node_id is required");
  }
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("node ", node_id, " is not registered with this coordinator; register again"));
  }
  Node& n = it->second;
  if (n.info.epoch() != epoch) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", node_id, ": stale epoch ", epoch, " (current ", n.info.epoch(), ")"));
  }
  if (n.info.state() != v1::NODE_STATE_ALIVE) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node_id, " (epoch ", epoch,
                                                      ") was declared dead (", n.info.dead_reason(),
                                                      "); register again"));
  }
  return &n;
}

absl::Status Membership::check_alive(const std::string& node_id, uint64_t epoch) const {
  return const_cast<Membership*>(this)->alive_node(node_id, epoch).status();
}

absl::Status Membership::touch(const std::string& node_id, uint64_t epoch, SteadyTime now,
                               int64_t now_unix_ms) {
  auto n = alive_node(node_id, epoch);
  if (!n.ok()) {
    return n.status();
  }
  (*n)->last_seen = now;
  (*n)->recovering = false;
  (*n)->info.set_last_heartbeat_unix_ms(now_unix_ms);
  return absl::OkStatus();
}

absl::Status Membership::record_heartbeat(const std::string& node_id, uint64_t epoch,
                                          const v1::Heartbeat& hb, SteadyTime now,
                                          int64_t now_unix_ms) {
  auto n = alive_node(node_id, epoch);
  if (!n.ok()) {
    return n.status();
  }
  Node& node = **n;
  node.last_seen = now;
  node.recovering = false;
  node.info.set_last_heartbeat_unix_ms(now_unix_ms);
  *node.latest.mutable_load() = hb.load();
  *node.latest.mutable_jobs() = hb.jobs();
  node.latest.set_sampled_unix_ms(now_unix_ms);
  return absl::OkStatus();
}

std::vector<v1::NodeInfo> Membership::expire(SteadyTime now) {
  std::vector<v1::NodeInfo> dead;
  for (auto& [id, n] : nodes_) {
    if (n.info.state() == v1::NODE_STATE_ALIVE && now - n.last_seen > config_.dead_after()) {
      n.info.set_state(v1::NODE_STATE_DEAD);
      if (n.recovering) {
        n.info.set_dead_reason(
            "did not reconnect within the recovery window after a coordinator restart");
        dead.push_back(n.info);
        continue;
      }
      n.info.set_dead_reason(absl::StrCat(
          "no heartbeat for ",
          std::chrono::duration_cast<std::chrono::milliseconds>(now - n.last_seen).count(),
          " ms (limit ", config_.heartbeat_period.count(), " ms x ", config_.miss_limit, ")"));
      dead.push_back(n.info);
    }
  }
  return dead;
}

std::optional<v1::NodeInfo> Membership::declare_dead(const std::string& node_id,
                                                     const std::string& reason) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || it->second.info.state() != v1::NODE_STATE_ALIVE) {
    return std::nullopt;
  }
  it->second.info.set_state(v1::NODE_STATE_DEAD);
  it->second.info.set_dead_reason(reason);
  return it->second.info;
}

std::vector<v1::NodeInfo> Membership::list(bool include_dead) const {
  std::vector<v1::NodeInfo> out;
  for (const auto& [id, n] : nodes_) {
    if (include_dead || n.info.state() == v1::NODE_STATE_ALIVE) {
      out.push_back(n.info);
    }
  }
  std::sort(out.begin(), out.end(), [](const v1::NodeInfo& a, const v1::NodeInfo& b) {
    return node_id_less(a.node_id(), b.node_id());
  });
  return out;
}

std::vector<v1::NodeStats> Membership::stats() const {
  std::vector<v1::NodeStats> out;
  for (const auto& [id, n] : nodes_) {
    if (n.info.state() != v1::NODE_STATE_ALIVE) {
      continue;
    }
    v1::NodeStats s = n.latest;
    *s.mutable_node() = n.info;
    sum_sched(s.jobs(), s.mutable_total());
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const v1::NodeStats& a, const v1::NodeStats& b) {
    return node_id_less(a.node().node_id(), b.node().node_id());
  });
  return out;
}

const v1::NodeInfo* Membership::find(const std::string& node_id) const {
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? nullptr : &it->second.info;
}

const v1::NodeLoad* Membership::alive_load(const std::string& node_id) const {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || it->second.info.state() != v1::NODE_STATE_ALIVE) {
    return nullptr;
  }
  return &it->second.latest.load();
}

bool Membership::is_alive(const std::string& node_id) const {
  const v1::NodeInfo* n = find(node_id);
  return n != nullptr && n->state() == v1::NODE_STATE_ALIVE;
}

void Membership::restore(const v1::NodeInfo& node, SteadyTime now,
                         std::chrono::milliseconds recovery_window) {
  Node n;
  n.info = node;
  if (recovery_window.count() > 0 && node.state() == v1::NODE_STATE_ALIVE) {
    // expire() fires at last_seen + dead_after(): place that at now + window.
    n.info.set_state(v1::NODE_STATE_ALIVE);
    n.last_seen = now + recovery_window - config_.dead_after();
    n.recovering = true;
  } else {
    n.info.set_state(v1::NODE_STATE_DEAD);
    if (n.info.dead_reason().empty()) {
      n.info.set_dead_reason("coordinator restarted; the agent must register again");
    }
  }
  nodes_[node.node_id()] = std::move(n);
  next_epoch_ = std::max(next_epoch_, node.epoch() + 1);
}

}  // namespace skein::coordinator
