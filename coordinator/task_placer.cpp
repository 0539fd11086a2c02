#include "task_placer.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace skein::coordinator {
namespace {

// Nodes named in an unplaceable message; beyond that only a count.
constexpr size_t kMaxRefusalsListed = 6;

int64_t cpus_of(const PlacerNode& n) { return std::max<int64_t>(1, n.resources->cpus()); }

// load(a) < load(b), per cpu, in exact integer arithmetic (no float ties).
bool less_loaded(const PlacerNode& a, const PlacerNode& b) {
  return (a.in_flight + a.runnable) * cpus_of(b) < (b.in_flight + b.runnable) * cpus_of(a);
}

bool same_load(const PlacerNode& a, const PlacerNode& b) {
  return (a.in_flight + a.runnable) * cpus_of(b) == (b.in_flight + b.runnable) * cpus_of(a);
}

bool has_label(const v1::Resources& res, const std::string& want) {
  size_t eq = want.find('=');
  std::string key = want.substr(0, eq);
  auto it = res.labels().find(key);
  if (it == res.labels().end()) {
    return false;
  }
  return eq == std::string::npos || it->second.compare(0, std::string::npos, want, eq + 1) == 0;
}

std::string human_bytes(uint64_t b) {
  if (b >= (uint64_t{1} << 30)) {
    return absl::StrFormat("%.1f GiB", static_cast<double>(b) / (1 << 30));
  }
  return absl::StrFormat("%.1f MiB", static_cast<double>(b) / (1 << 20));
}

std::string describe(const v1::Task& task) {
  std::string out;
  switch (task.placement()) {
    case v1::PLACEMENT_KIND_PINNED:
      absl::StrAppend(&out, "pinned to ", task.pinned_node());
      break;
    case v1::PLACEMENT_KIND_LOCAL_FIRST:
      out = "local_first";
      break;
    case v1::PLACEMENT_KIND_SPREAD:
      out = "spread";
      break;
    default:
      out = "least_loaded";
      break;
  }
  const v1::TaskResources& r = task.resources();
  if (r.cpus() > 0) {
    absl::StrAppend(&out, ", cpus>=", r.cpus());
  }
  if (r.memory_bytes() > 0) {
    absl::StrAppend(&out, ", memory>=", human_bytes(r.memory_bytes()));
  }
  for (const auto& l : r.labels()) {
    absl::StrAppend(&out, ", label ", l);
  }
  return out;
}

absl::Status unplaceable(std::span<const PlacerNode> nodes, const v1::Task& task) {
  std::string msg = absl::StrCat("no node can run ", task.function(), " (", describe(task), ")");
  if (nodes.empty()) {
    absl::StrAppend(&msg, ": no live node is connected");
    return absl::FailedPreconditionError(msg);
  }
  bool pinned = task.placement() == v1::PLACEMENT_KIND_PINNED;
  if (pinned && std::none_of(nodes.begin(), nodes.end(),
                             [&](const PlacerNode& n) { return n.id == task.pinned_node(); })) {
    absl::StrAppend(&msg, ": node ", task.pinned_node().empty() ? "\"\"" : task.pinned_node(),
                    " is not alive and connected");
    return absl::FailedPreconditionError(msg);
  }
  size_t listed = 0;
  absl::StrAppend(&msg, ":");
  for (const auto& n : nodes) {
    if (pinned && n.id != task.pinned_node()) {
      continue;
    }
    if (listed == kMaxRefusalsListed) {
      absl::StrAppend(&msg, " (+", nodes.size() - listed, " more)");
      break;
    }
    std::string why;
    node_fits(n, task.resources(), &why);
    absl::StrAppend(&msg, listed == 0 ? " " : "; ", absl::string_view(n.id.data(), n.id.size()),
                    ": ", why);
    ++listed;
  }
  return absl::FailedPreconditionError(msg);
}

// Least loaded fitting node; ties -> owner, then view order.
std::optional<size_t> least_loaded(std::span<const PlacerNode> nodes, const v1::Task& task,
                                   std::string_view owner) {
  std::optional<size_t> best;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!node_fits(nodes[i], task.resources())) {
      continue;
    }
    if (!best || less_loaded(nodes[i], nodes[*best]) ||
        (nodes[i].id == owner && same_load(nodes[i], nodes[*best]))) {
      best = i;
    }
  }
  return best;
}

}  // namespace

bool node_fits(const PlacerNode& node, const v1::TaskResources& req, std::string* why) {
  const v1::Resources& res = *node.resources;
  if (req.cpus() > 0 && req.cpus() > res.cpus()) {
    if (why) absl::StrAppend(why, res.cpus(), " cpus < ", req.cpus());
    return false;
  }
  if (req.memory_bytes() > 0 &&
      (res.memory_bytes() <= 0 || req.memory_bytes() > static_cast<uint64_t>(res.memory_bytes()))) {
    if (why) {
      absl::StrAppend(why, "memory ",
                      human_bytes(static_cast<uint64_t>(std::max<int64_t>(0, res.memory_bytes()))),
                      " < ", human_bytes(req.memory_bytes()));
    }
    return false;
  }
  for (const auto& l : req.labels()) {
    if (!has_label(res, l)) {
      if (why) absl::StrAppend(why, "no label ", l);
      return false;
    }
  }
  return true;
}

absl::StatusOr<size_t> place_task(std::span<const PlacerNode> nodes, const v1::Task& task,
                                  std::string_view owner_node, uint32_t* spread_cursor) {
  std::optional<size_t> chosen;
  switch (task.placement()) {
    case v1::PLACEMENT_KIND_PINNED:
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].id == task.pinned_node() && node_fits(nodes[i], task.resources())) {
          chosen = i;
          break;
        }
      }
      break;
    case v1::PLACEMENT_KIND_LOCAL_FIRST:
      for (size_t i = 0; i < nodes.size(); ++i) {
        const PlacerNode& n = nodes[i];
        if (n.id == owner_node && n.in_flight + n.runnable < cpus_of(n) &&
            node_fits(n, task.resources())) {
          chosen = i;
          break;
        }
      }
      if (!chosen) {
        chosen = least_loaded(nodes, task, owner_node);
      }
      break;
    case v1::PLACEMENT_KIND_SPREAD: {
      size_t fitting = 0;
      for (const auto& n : nodes) {
        fitting += node_fits(n, task.resources()) ? 1 : 0;
      }
      if (fitting == 0) {
        break;
      }
      size_t k = *spread_cursor % fitting;
      ++*spread_cursor;
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (node_fits(nodes[i], task.resources()) && k-- == 0) {
          chosen = i;
          break;
        }
      }
      break;
    }
    case v1::PLACEMENT_KIND_LEAST_LOADED:
      chosen = least_loaded(nodes, task, owner_node);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown placement kind ", static_cast<int>(task.placement())));
  }
  if (!chosen) {
    return unplaceable(nodes, task);
  }
  return *chosen;
}

}  // namespace skein::coordinator
