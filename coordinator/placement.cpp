#include "placement.hpp"

#include <algorithm>
#include <tuple>

namespace skein::coordinator {

std::optional<std::string> choose_least_loaded(const std::vector<v1::NodeStats>& nodes,
                                               const std::map<std::string, int>& active_jobs,
                                               const std::map<std::string, int>& placed_total) {
  std::optional<std::string> best;
  std::tuple<double, double, int, size_t, std::string> best_key;
  for (const auto& n : nodes) {
    const std::string& id = n.node().node_id();
    double cpus = std::max(1, n.node().resources().cpus());
    auto it = active_jobs.find(id);
    double jobs_per_cpu = (it == active_jobs.end() ? 0 : it->second) / cpus;
    double load_per_cpu = n.load().load_avg_1m() / cpus;
    auto placed = placed_total.find(id);
    auto key = std::make_tuple(jobs_per_cpu, load_per_cpu,
                               placed == placed_total.end() ? 0 : placed->second, id.size(), id);
    if (!best || key < best_key) {
      best = id;
      best_key = key;
    }
  }
  return best;
}

}  // namespace skein::coordinator
