// StatsView: turns GetStats snapshots into the per-node rows of `skein stats`.
//
// Gauges (goroutines by state, busy Ps, threads, run-queue depth) are summed
// over the workers of a node as reported. Rates (spawns/s, context switches/s,
// steals/s) are counter differences between two samples *of the same worker*
// (node, job, pid) divided by the difference of their sample times, so they
// are exact regardless of when the CLI polls. A worker seen once has no rate
// yet (has_rates = false); one whose sample did not change since the last
// update keeps its last rate.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "skein/v1/coordinator.pb.h"

namespace skein::cli {

struct WorkerRow {
  std::uint64_t job_id = 0;
  int pid = 0;
  bool driver = false;
  skein::v1::SchedStats sched;
  std::int64_t runq = 0;  // global + all local run queues
  bool has_rates = false;
  double spawns_per_s = 0;
  double switches_per_s = 0;
  double steals_per_s = 0;
};

struct NodeRow {
  std::string node_id;
  std::string hostname;
  skein::v1::NodeLoad load;
  std::int64_t sampled_unix_ms = 0;
  std::vector<WorkerRow> workers;
  // Sums over workers.
  std::int64_t goroutines = 0, running = 0, runnable = 0, blocked = 0;
  std::int64_t busy_procs = 0, procs = 0, threads = 0, runq = 0;
  bool has_rates = false;
  double spawns_per_s = 0, switches_per_s = 0, steals_per_s = 0;
};

class StatsView {
 public:
  std::vector<NodeRow> update(const skein::v1::GetStatsResponse& snapshot);
  // True when every worker in the last update has rates.
  bool all_rated() const { return all_rated_; }

 private:
  struct Prev {
    std::int64_t sampled_ms = 0;
    std::uint64_t spawned = 0, switches = 0, steals = 0;
    bool has_rates = false;
    double spawns = 0, csw = 0, steals_rate = 0;
  };
  using Key = std::tuple<std::string, std::uint64_t, int>;
  std::map<Key, Prev> prev_;
  bool all_rated_ = true;
};

std::string render_stats_table(const std::vector<NodeRow>& rows, std::int64_t unix_ms);
nlohmann::json stats_json(const std::vector<NodeRow>& rows, std::int64_t unix_ms);

}  // namespace skein::cli
