#include "placement.hpp"

#include <gtest/gtest.h>

namespace skein::coordinator {
namespace {

v1::NodeStats node(const std::string& id, int cpus, double load = 0) {
  v1::NodeStats s;
  s.mutable_node()->set_node_id(id);
  s.mutable_node()->mutable_resources()->set_cpus(cpus);
  s.mutable_load()->set_load_avg_1m(load);
  return s;
}

TEST(Placement, NoLiveNodeNoPlacement) {
  EXPECT_FALSE(choose_least_loaded({}, {}, {}).has_value());
}

TEST(Placement, FewestActiveJobsPerCpuWins) {
  std::vector<v1::NodeStats> nodes = {node("node-1", 2), node("node-2", 8)};
  // 2 jobs on 2 cpus (1.0/cpu) vs 4 jobs on 8 cpus (0.5/cpu).
  EXPECT_EQ(*choose_least_loaded(nodes, {{"node-1", 2}, {"node-2", 4}}, {}), "node-2");
  EXPECT_EQ(*choose_least_loaded(nodes, {{"node-1", 0}, {"node-2", 1}}, {}), "node-1");
}

TEST(Placement, ReportedLoadThenHistoryThenIdBreakTies) {
  std::vector<v1::NodeStats> nodes = {node("node-10", 2, 0.5), node("node-2", 2, 1.5)};
  EXPECT_EQ(*choose_least_loaded(nodes, {}, {}), "node-10");
  nodes = {node("node-10", 2), node("node-2", 2)};
  EXPECT_EQ(*choose_least_loaded(nodes, {}, {}), "node-2") << "numeric id order";
  EXPECT_EQ(*choose_least_loaded(nodes, {}, {{"node-2", 3}, {"node-10", 1}}), "node-10")
      << "equal nodes rotate by placement history";
}

}  // namespace
}  // namespace skein::coordinator
