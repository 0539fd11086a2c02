#include "stats_view.hpp"

#include <gtest/gtest.h>

namespace skein::cli {
namespace {

skein::v1::GetStatsResponse snapshot(std::int64_t sampled_ms, std::uint64_t spawned,
                                     std::uint64_t switches, std::uint64_t steals) {
  skein::v1::GetStatsResponse r;
  r.set_unix_ms(sampled_ms + 5);
  auto* n = r.add_nodes();
  n->mutable_node()->set_node_id("node-1");
  n->mutable_node()->set_hostname("agent-1");
  n->mutable_load()->set_cpu_utilization(0.5);
  auto* j = n->add_jobs();
  j->set_job_id(7);
  j->set_pid(1234);
  j->set_driver(true);
  auto* s = j->mutable_sched();
  s->set_goroutines(10);
  s->set_running(2);
  s->set_runnable(5);
  s->set_blocked(3);
  s->set_procs(2);
  s->set_busy_procs(2);
  s->set_threads(3);
  s->set_global_runq(1);
  s->add_local_runq(2);
  s->add_local_runq(4);
  s->set_spawned(spawned);
  s->set_context_switches(switches);
  s->set_steals(steals);
  s->set_sampled_unix_ms(sampled_ms);
  auto* idle = r.add_nodes();
  idle->mutable_node()->set_node_id("node-2");
  return r;
}

TEST(StatsView, RatesAreCounterDeltasOverSampleTime) {
  StatsView v;
  auto first = v.update(snapshot(1000, 100, 1000, 10));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_FALSE(first[0].has_rates);  // one sample: no rate yet
  EXPECT_FALSE(v.all_rated());
  auto second = v.update(snapshot(3000, 2100, 5000, 30));  // 2 s later
  EXPECT_TRUE(v.all_rated());
  ASSERT_EQ(second[0].workers.size(), 1u);
  EXPECT_DOUBLE_EQ(second[0].spawns_per_s, 1000.0);
  EXPECT_DOUBLE_EQ(second[0].switches_per_s, 2000.0);
  EXPECT_DOUBLE_EQ(second[0].steals_per_s, 10.0);
  EXPECT_EQ(second[0].runq, 7);  // global 1 + local 2 + 4
  EXPECT_EQ(second[0].runnable, 5);
  EXPECT_TRUE(second[1].workers.empty());
}

TEST(StatsView, AnUnchangedSampleKeepsItsRate) {
  StatsView v;
  v.update(snapshot(1000, 0, 0, 0));
  v.update(snapshot(2000, 500, 500, 0));
  auto same = v.update(snapshot(2000, 500, 500, 0));  // polled before the next heartbeat
  EXPECT_TRUE(same[0].has_rates);
  EXPECT_DOUBLE_EQ(same[0].spawns_per_s, 500.0);
  auto next = v.update(snapshot(3000, 1500, 500, 0));
  EXPECT_DOUBLE_EQ(next[0].spawns_per_s, 1000.0);
}

TEST(StatsView, JsonHasEveryNodeWithNullRatesUntilKnown) {
  StatsView v;
  auto rows = v.update(snapshot(1000, 1, 1, 1));
  auto j = stats_json(rows, 1005);
  ASSERT_EQ(j["nodes"].size(), 2u);
  EXPECT_EQ(j["nodes"][0]["node_id"], "node-1");
  EXPECT_EQ(j["nodes"][0]["workers"][0]["job_id"], 7);
  EXPECT_EQ(j["nodes"][0]["workers"][0]["goroutines"], 10);
  EXPECT_TRUE(j["nodes"][0]["workers"][0]["spawns_per_s"].is_null());
  rows = v.update(snapshot(2000, 11, 1, 1));
  j = stats_json(rows, 2005);
  EXPECT_DOUBLE_EQ(j["nodes"][0]["spawns_per_s"].get<double>(), 10.0);
  const std::string table = render_stats_table(rows, 2005);
  EXPECT_NE(table.find("node-1"), std::string::npos);
  EXPECT_NE(table.find("agent-1"), std::string::npos);
  EXPECT_NE(table.find("2/2"), std::string::npos);  // busy Ps
}

}  // namespace
}  // namespace skein::cli
