// The task placer on its own: each policy places where it says, resources
// filter nodes, and an impossible request says why for every node.
#include "task_placer.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>

namespace skein::coordinator {
namespace {

// Owns the Resources the PlacerNodes point to.
class Nodes {
 public:
  Nodes& add(const std::string& id, int cpus, int64_t memory = 0,
             std::map<std::string, std::string> labels = {}) {
    ids_.push_back(id);
    auto& r = res_.emplace_back();
    r.set_cpus(cpus);
    r.set_memory_bytes(memory);
    for (auto& [k, v] : labels) {
      (*r.mutable_labels())[k] = v;
    }
    PlacerNode n;
    n.id = ids_.back();
    n.resources = &r;
    view_.push_back(n);
    return *this;
  }
  PlacerNode& operator[](size_t i) { return view_[i]; }
  std::vector<PlacerNode>& view() { return view_; }

  // Places `task` and records it in flight where it went, as Cluster does.
  std::string place(const v1::Task& task, const std::string& owner, uint32_t* cursor) {
    auto at = place_task(view_, task, owner, cursor);
    if (!at.ok()) {
      return "error: " + std::string(at.status().message());
    }
    ++view_[*at].in_flight;
    return std::string(view_[*at].id);
  }

 private:
  std::deque<std::string> ids_;
  std::deque<v1::Resources> res_;
  std::vector<PlacerNode> view_;
};

v1::Task task(v1::PlacementKind kind = v1::PLACEMENT_KIND_LEAST_LOADED) {
  v1::Task t;
  t.set_task_id(1);
  t.set_attempt(1);
  t.set_function("fib");
  t.set_placement(kind);
  return t;
}

TEST(TaskPlacer, LeastLoadedIsMinimumTasksPlusRunnablePerCpu) {
  Nodes n;
  n.add("node-1", 2).add("node-2", 8).add("node-3", 4);
  n[0].in_flight = 2;  // 1.0 per cpu
  n[1].in_flight = 4;  // 0.5 + runnable 4 -> 1.0
  n[1].runnable = 4;
  n[2].in_flight = 3;  // 0.75
  uint32_t cursor = 0;
  EXPECT_EQ(n.place(task(), "node-1", &cursor), "node-3");
  // Now node-3 is at 1.0 like the others: the owner wins the tie.
  EXPECT_EQ(n.place(task(), "node-1", &cursor), "node-1");
}

TEST(TaskPlacer, LeastLoadedTiesGoToTheOwnerThenToViewOrder) {
  Nodes n;
  n.add("node-1", 2).add("node-2", 2).add("node-3", 2);
  uint32_t cursor = 0;
  EXPECT_EQ(n.place(task(), "node-3", &cursor), "node-3");
  EXPECT_EQ(n.place(task(), "node-9", &cursor), "node-1") << "owner not in view: first node";
}

TEST(TaskPlacer, OneBatchSpreadsBecauseInFlightCountsGrowAsItGoes) {
  Nodes n;
  n.add("node-1", 2).add("node-2", 2).add("node-3", 4);
  uint32_t cursor = 0;
  std::map<std::string, int> where;
  for (int i = 0; i < 80; ++i) {
    ++where[n.place(task(), "node-1", &cursor)];
  }
  EXPECT_EQ(where["node-1"], 20);
  EXPECT_EQ(where["node-2"], 20);
  EXPECT_EQ(where["node-3"], 40) << "twice the cpus, twice the tasks";
}

TEST(TaskPlacer, LocalFirstStaysOnTheOwnerUntilOnePerCpuThenSpills) {
  Nodes n;
  n.add("node-1", 2).add("node-2", 2);
  n[0].runnable = 1;  // owner already has some load; node-2 is idle
  uint32_t cursor = 0;
  auto t = task(v1::PLACEMENT_KIND_LOCAL_FIRST);
  EXPECT_EQ(n.place(t, "node-1", &cursor), "node-1") << "load 1/2 < 1 per cpu";
  // Owner at 2/2: spill to the least loaded node.
  EXPECT_EQ(n.place(t, "node-1", &cursor), "node-2");
  EXPECT_EQ(n.place(t, "node-1", &cursor), "node-2");
  // Both at 1.0 per cpu: least_loaded's tie goes back to the owner.
  EXPECT_EQ(n.place(t, "node-1", &cursor), "node-1");
}

TEST(TaskPlacer, SpreadIsRoundRobinOverFittingNodes) {
  Nodes n;
  n.add("node-1", 2).add("node-2", 1).add("node-3", 2);
  n[0].in_flight = 100;  // load is ignored by spread
  uint32_t cursor = 0;
  auto t = task(v1::PLACEMENT_KIND_SPREAD);
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) {
    got.push_back(n.place(t, "node-2", &cursor));
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{"node-1", "node-2", "node-3", "node-1", "node-2", "node-3"}));
  t.mutable_resources()->set_cpus(2);  // node-2 no longer fits
  got.clear();
  for (int i = 0; i < 4; ++i) {
    got.push_back(n.place(t, "node-2", &cursor));
  }
  EXPECT_EQ(std::count(got.begin(), got.end(), "node-1"), 2);
  EXPECT_EQ(std::count(got.begin(), got.end(), "node-3"), 2);
}

TEST(TaskPlacer, PinnedGoesExactlyThereOrFailsSayingWhy) {
  Nodes n;
  n.add("node-1", 2).add("node-2", 2);
  n[0].in_flight = 50;
  uint32_t cursor = 0;
  auto t = task(v1::PLACEMENT_KIND_PINNED);
  t.set_pinned_node("node-1");
  EXPECT_EQ(n.place(t, "node-2", &cursor), "node-1") << "even when it is the busiest";
  t.set_pinned_node("node-7");
  EXPECT_EQ(n.place(t, "node-2", &cursor),
            "error: no node can run fib (pinned to node-7): node node-7 is not alive and "
            "connected");
  t.set_pinned_node("node-2");
  t.mutable_resources()->set_cpus(4);
  EXPECT_EQ(n.place(t, "node-2", &cursor),
            "error: no node can run fib (pinned to node-2, cpus>=4): node-2: 2 cpus < 4");
}

TEST(TaskPlacer, ResourcesFilterCpusMemoryAndLabels) {
  Nodes n;
  n.add("node-1", 8, int64_t{1} << 30, {{"zone", "a"}})
      .add("node-2", 2, int64_t{16} << 30, {{"zone", "b"}, {"gpu", "t4"}})
      .add("node-3", 4, int64_t{4} << 30, {{"zone", "b"}});
  uint32_t cursor = 0;
  auto t = task();
  t.mutable_resources()->set_cpus(4);
  EXPECT_EQ(n.place(t, "node-2", &cursor), "node-1");  // fits: 1 and 3; 1 first in view
  t.mutable_resources()->set_memory_bytes(uint64_t{2} << 30);
  EXPECT_EQ(n.place(t, "node-1", &cursor), "node-3");
  t.Clear();
  t.set_function("fib");
  t.mutable_resources()->add_labels("gpu");
  EXPECT_EQ(n.place(t, "node-1", &cursor), "node-2");
  t.mutable_resources()->clear_labels();
  t.mutable_resources()->add_labels("zone=b");
  n[1].in_flight = 10;
  EXPECT_EQ(n.place(t, "node-1", &cursor), "node-3");
  t.mutable_resources()->add_labels("zone=a");
  EXPECT_TRUE(n.place(t, "node-1", &cursor).starts_with("error: "));
}

TEST(TaskPlacer, UnplaceableStatesTheRequirementAndEachRefusal) {
  Nodes n;
  n.add("node-1", 2, int64_t{1} << 30).add("node-2", 8, int64_t{1} << 30).add("node-3", 8, 0);
  uint32_t cursor = 0;
  auto t = task();
  t.mutable_resources()->set_cpus(4);
  t.mutable_resources()->set_memory_bytes(uint64_t{2} << 30);
  auto at = place_task(n.view(), t, "node-1", &cursor);
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(at.status().message(),
            "no node can run fib (least_loaded, cpus>=4, memory>=2.0 GiB): node-1: 2 cpus < 4; "
            "node-2: memory 1.0 GiB < 2.0 GiB; node-3: memory 0.0 MiB < 2.0 GiB");
  auto none = place_task({}, task(), "node-1", &cursor);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "no node can run fib (least_loaded): no live node is connected");
  v1::Task bad = task();
  bad.set_placement(static_cast<v1::PlacementKind>(42));
  EXPECT_EQ(place_task(n.view(), bad, "node-1", &cursor).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace skein::coordinator
