#include "stats_view.hpp"

#include "absl/strings/str_cat.h"
#include "table.hpp"

namespace skein::cli {

std::vector<NodeRow> StatsView::update(const skein::v1::GetStatsResponse& snapshot) {
  std::vector<NodeRow> rows;
  std::map<Key, Prev> next;
  all_rated_ = true;
  for (const auto& ns : snapshot.nodes()) {
    NodeRow r;
    r.node_id = ns.node().node_id();
    r.hostname = ns.node().hostname();
    r.load = ns.load();
    r.sampled_unix_ms = ns.sampled_unix_ms();
    r.has_rates = true;
    for (const auto& js : ns.jobs()) {
      WorkerRow w;
      w.job_id = js.job_id();
      w.pid = js.pid();
      w.driver = js.driver();
      w.sched = js.sched();
      w.runq = w.sched.global_runq();
      for (auto q : w.sched.local_runq()) {
        w.runq += q;
      }
      const Key key{r.node_id, w.job_id, w.pid};
      Prev cur;
      cur.sampled_ms = w.sched.sampled_unix_ms();
      cur.spawned = w.sched.spawned();
      cur.switches = w.sched.context_switches();
      cur.steals = w.sched.steals();
      auto it = prev_.find(key);
      if (it != prev_.end()) {
        const Prev& p = it->second;
        const double dt = static_cast<double>(cur.sampled_ms - p.sampled_ms) / 1000.0;
        if (dt > 0 && cur.spawned >= p.spawned && cur.switches >= p.switches) {
          cur.has_rates = true;
          cur.spawns = static_cast<double>(cur.spawned - p.spawned) / dt;
          cur.csw = static_cast<double>(cur.switches - p.switches) / dt;
          cur.steals_rate = static_cast<double>(cur.steals - p.steals) / dt;
        } else if (dt == 0) {
          // Same sample as last time: keep its rate and its baseline.
          cur = p;
        }
      }
      w.has_rates = cur.has_rates;
      w.spawns_per_s = cur.spawns;
      w.switches_per_s = cur.csw;
      w.steals_per_s = cur.steals_rate;
      next[key] = cur;
      all_rated_ = all_rated_ && w.has_rates;
      r.has_rates = r.has_rates && w.has_rates;

      r.goroutines += w.sched.goroutines();
      r.running += w.sched.running();
      r.runnable += w.sched.runnable();
      r.blocked += w.sched.blocked();
      r.busy_procs += w.sched.busy_procs();
      r.procs += w.sched.procs();
      r.threads += w.sched.threads();
      r.runq += w.runq;
      r.spawns_per_s += w.spawns_per_s;
      r.switches_per_s += w.switches_per_s;
      r.steals_per_s += w.steals_per_s;
      r.workers.push_back(std::move(w));
    }
    rows.push_back(std::move(r));
  }
  prev_ = std::move(next);
  return rows;
}

std::string render_stats_table(const std::vector<NodeRow>& rows, std::int64_t unix_ms) {
  Table t({{"NODE"},
           {"NAME"},
           {"WORKERS", true},
           {"TASKS", true},
           {"G RUN", true},
           {"G RUNNABLE", true},
           {"G BLOCKED", true},
           {"BUSY P", true},
           {"SPAWNS/s", true},
           {"CSW/s", true},
           {"STEALS/s", true},
           {"RUNQ", true},
           {"THREADS", true},
           {"CPU", true},
           {"AGENT RSS", true}});
  for (const auto& r : rows) {
    const bool idle = r.workers.empty();
    auto num = [&](std::int64_t v) { return idle ? std::string("-") : std::to_string(v); };
    auto rate = [&](double v) {
      return idle ? std::string("-") : (r.has_rates ? human_rate(v) : std::string("..."));
    };
    char cpu[16];
    std::snprintf(cpu, sizeof(cpu), "%.0f%%", r.load.cpu_utilization() * 100);
    // TASKS: remote tasks placed on this node with no result yet.
    t.add_row({r.node_id, r.hostname, std::to_string(r.workers.size()),
               std::to_string(r.load.tasks_in_flight()), num(r.running), num(r.runnable),
               num(r.blocked), idle ? "-" : absl::StrCat(r.busy_procs, "/", r.procs),
               rate(r.spawns_per_s), rate(r.switches_per_s), rate(r.steals_per_s), num(r.runq),
               num(r.threads), cpu, human_bytes(r.load.agent_rss_bytes())});
  }
  std::string out = absl::StrCat("cluster stats at ", clock_time(unix_ms), ": ", rows.size(),
                                 " node", rows.size() == 1 ? "" : "s", "\n");
  if (rows.empty()) {
    return out + "no live nodes\n";
  }
  return out + t.render();
}

nlohmann::json stats_json(const std::vector<NodeRow>& rows, std::int64_t unix_ms) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json workers = nlohmann::json::array();
    for (const auto& w : r.workers) {
      const auto& s = w.sched;
      nlohmann::json wj = {{"job_id", w.job_id},
                           {"pid", w.pid},
                           {"driver", w.driver},
                           {"goroutines", s.goroutines()},
                           {"running", s.running()},
                           {"runnable", s.runnable()},
                           {"blocked", s.blocked()},
                           {"procs", s.procs()},
                           {"busy_procs", s.busy_procs()},
                           {"threads", s.threads()},
                           {"idle_threads", s.idle_threads()},
                           {"runq", w.runq},
                           {"spawned", s.spawned()},
                           {"finished", s.finished()},
                           {"context_switches", s.context_switches()},
                           {"steals", s.steals()},
                           {"parks", s.parks()},
                           {"sampled_unix_ms", s.sampled_unix_ms()}};
      if (w.has_rates) {
        wj["spawns_per_s"] = w.spawns_per_s;
        wj["context_switches_per_s"] = w.switches_per_s;
        wj["steals_per_s"] = w.steals_per_s;
      } else {
        wj["spawns_per_s"] = nullptr;
        wj["context_switches_per_s"] = nullptr;
        wj["steals_per_s"] = nullptr;
      }
      workers.push_back(std::move(wj));
    }
    nlohmann::json nj = {
        {"node_id", r.node_id},
        {"name", r.hostname},
        {"sampled_unix_ms", r.sampled_unix_ms},
        {"load",
         {{"cpu_utilization", r.load.cpu_utilization()},
          {"load_avg_1m", r.load.load_avg_1m()},
          {"memory_available_bytes", r.load.memory_available_bytes()},
          {"running_jobs", r.load.running_jobs()},
          {"running_workers", r.load.running_workers()},
          {"agent_rss_bytes", r.load.agent_rss_bytes()},
          {"tasks_in_flight", r.load.tasks_in_flight()}}},
        {"goroutines", r.goroutines},
        {"running", r.running},
        {"runnable", r.runnable},
        {"blocked", r.blocked},
        {"busy_procs", r.busy_procs},
        {"procs", r.procs},
        {"threads", r.threads},
        {"runq", r.runq},
        {"spawns_per_s",
         r.has_rates && !r.workers.empty() ? nlohmann::json(r.spawns_per_s) : nlohmann::json()},
        {"context_switches_per_s",
         r.has_rates && !r.workers.empty() ? nlohmann::json(r.switches_per_s) : nlohmann::json()},
        {"steals_per_s",
         r.has_rates && !r.workers.empty() ? nlohmann::json(r.steals_per_s) : nlohmann::json()},
        {"workers", std::move(workers)}};
    nodes.push_back(std::move(nj));
  }
  return {{"unix_ms", unix_ms}, {"nodes", std::move(nodes)}};
}

}  // namespace skein::cli
