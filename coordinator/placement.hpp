// Placement of a job's driver: least_loaded among live nodes (DESIGN §4).
//
// Load is judged first by what the coordinator itself knows instantly — the
// number of non-terminal jobs it has already placed on each node, per cpu —
// so a burst of submits spreads out before any heartbeat reports the new
// load; the reported 1-minute load average per cpu breaks ties, then the
// number of jobs ever placed on the node (so short jobs rotate over equal
// nodes instead of all landing on the first), then the node id. A pinned node must be alive. This
// is the only policy of this issue; spread / local_first / resource-aware placement of tasks come
// with task dispatch.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "skein/v1/coordinator.pb.h"

namespace skein::coordinator {

// `nodes`: live nodes with their latest stats; `active_jobs`: node id ->
// non-terminal jobs placed there; `placed_total`: node id -> jobs ever placed
// there. nullopt when `nodes` is empty.
std::optional<std::string> choose_least_loaded(const std::vector<v1::NodeStats>& nodes,
                                               const std::map<std::string, int>& active_jobs,
                                               const std::map<std::string, int>& placed_total);

}  // namespace skein::coordinator
