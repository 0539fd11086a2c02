#include "membership.hpp"

#include <gtest/gtest.h>

namespace skein::coordinator {
namespace {

using std::chrono::milliseconds;

v1::RegisterRequest req(int cpus = 4) {
  v1::RegisterRequest r;
  r.mutable_resources()->set_cpus(cpus);
  r.mutable_resources()->set_memory_bytes(1 << 30);
  r.set_hostname("h");
  return r;
}

// The test setting of RELIABILITY R3: 100 ms x 5.
MembershipConfig fast() { return MembershipConfig{milliseconds(100), 5}; }

TEST(Membership, RegisterHandsOutFreshIdsAndEpochs) {
  Membership m(fast());
  SteadyTime t0{};
  auto a = m.register_node(req(), "", t0, 1);
  auto b = m.register_node(req(), "", t0, 1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->node_id(), "node-1");
  EXPECT_EQ(b->node_id(), "node-2");
  EXPECT_LT(a->epoch(), b->epoch());
  EXPECT_EQ(a->state(), v1::NODE_STATE_ALIVE);
  EXPECT_EQ(m.register_node(req(0), "", t0, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Membership, DeclaredDeadAfterMissLimitNotBefore) {
  Membership m(fast());
  SteadyTime t0{};
  auto a = m.register_node(req(), "", t0, 1);
  auto b = m.register_node(req(), "", t0, 1);
  // b keeps heartbeating every period; a goes silent.
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(m.touch(b->node_id(), b->epoch(), t0 + milliseconds(100 * i), 1).ok());
  }
  EXPECT_TRUE(m.expire(t0 + milliseconds(500)).empty()) << "exactly at the limit is still alive";
  auto dead = m.expire(t0 + milliseconds(501));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].node_id(), a->node_id());
  EXPECT_EQ(dead[0].state(), v1::NODE_STATE_DEAD);
  EXPECT_NE(dead[0].dead_reason().find("100 ms x 5"), std::string::npos) << dead[0].dead_reason();
  EXPECT_TRUE(m.is_alive(b->node_id()));
  EXPECT_TRUE(m.expire(t0 + milliseconds(502)).empty()) << "death is reported once";
}

TEST(Membership, NothingFromADeadNodeIsAccepted) {
  Membership m(fast());
  SteadyTime t0{};
  auto a = m.register_node(req(), "", t0, 1);
  ASSERT_EQ(m.expire(t0 + milliseconds(1000)).size(), 1u);
  v1::Heartbeat hb;
  EXPECT_EQ(m.touch(a->node_id(), a->epoch(), t0 + milliseconds(1001), 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m.record_heartbeat(a->node_id(), a->epoch(), hb, t0 + milliseconds(1001), 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(m.is_alive(a->node_id()));
  // The agent comes back: it is a new node.
  auto again = m.register_node(req(), "", t0 + milliseconds(1002), 1);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->node_id(), a->node_id());
  EXPECT_GT(again->epoch(), a->epoch());
  EXPECT_EQ(m.list(false).size(), 1u);
  EXPECT_EQ(m.list(true).size(), 2u);
}

TEST(Membership, WrongEpochAndUnknownNodeAreRejected) {
  Membership m(fast());
  SteadyTime t0{};
  auto a = m.register_node(req(), "", t0, 1);
  EXPECT_EQ(m.check_alive(a->node_id(), a->epoch() + 7).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m.check_alive("node-99", 99).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m.check_alive("", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(m.check_alive(a->node_id(), a->epoch()).ok());
}

TEST(Membership, HeartbeatStatsShowUpForLiveNodesOnly) {
  Membership m(fast());
  SteadyTime t0{};
  auto a = m.register_node(req(), "", t0, 1);
  auto b = m.register_node(req(), "", t0, 1);
  v1::Heartbeat hb;
  hb.mutable_load()->set_running_workers(3);
  auto* js = hb.add_jobs();
  js->set_job_id(7);
  js->mutable_sched()->set_goroutines(1000);
  js->mutable_sched()->set_context_switches(50);
  auto* js2 = hb.add_jobs();
  js2->set_job_id(8);
  js2->mutable_sched()->set_goroutines(24);
  js2->mutable_sched()->set_context_switches(7);
  ASSERT_TRUE(m.record_heartbeat(a->node_id(), a->epoch(), hb, t0 + milliseconds(400), 42).ok());
  ASSERT_EQ(m.expire(t0 + milliseconds(600)).size(), 1u);  // b died
  auto stats = m.stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].node().node_id(), a->node_id());
  EXPECT_EQ(stats[0].load().running_workers(), 3);
  ASSERT_EQ(stats[0].jobs_size(), 2);
  EXPECT_EQ(stats[0].jobs(0).sched().goroutines(), 1000);
  EXPECT_EQ(stats[0].total().goroutines(), 1024);
  EXPECT_EQ(stats[0].total().context_switches(), 57u);
  EXPECT_EQ(stats[0].sampled_unix_ms(), 42);
  (void)b;
}

TEST(Membership, RestoredNodesAreDeadAndIdsAreNeverReused) {
  Membership before(fast());
  SteadyTime t0{};
  auto a = before.register_node(req(), "", t0, 1);
  auto b = before.register_node(req(), "", t0, 1);
  Membership after(fast());
  after.restore(*a, t0, milliseconds(0));
  after.restore(*b, t0, milliseconds(0));
  EXPECT_FALSE(after.is_alive(a->node_id()));
  EXPECT_EQ(after.check_alive(b->node_id(), b->epoch()).code(),
            absl::StatusCode::kFailedPrecondition);
  auto c = after.register_node(req(), "", t0, 1);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->node_id(), "node-3");
}

TEST(Membership, RecoveryWindowRevivesOnlyLiveNodesUntilItEnds) {
  Membership before(fast());
  SteadyTime t0{};
  auto alive = before.register_node(req(), "", t0, 1);
  auto dead = before.register_node(req(), "", t0, 1);
  ASSERT_TRUE(before.touch(alive->node_id(), alive->epoch(), t0 + milliseconds(450), 1).ok());
  ASSERT_EQ(before.expire(t0 + milliseconds(600)).size(), 1u);  // `dead` dies
  Membership after(fast());
  SteadyTime restart = t0 + std::chrono::seconds(100);
  after.restore(*before.find(alive->node_id()), restart, milliseconds(2000));
  after.restore(*before.find(dead->node_id()), restart, milliseconds(2000));
  EXPECT_TRUE(after.check_alive(alive->node_id(), alive->epoch()).ok());
  EXPECT_EQ(after.check_alive(dead->node_id(), dead->epoch()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(after.expire(restart + milliseconds(1999)).empty());
  auto gone = after.expire(restart + milliseconds(2001));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_NE(gone[0].dead_reason().find("recovery window"), std::string::npos);
  // A node that reconnects in time is a normal node again: the usual
  // heartbeat rule (100 ms x 5 from its last message) replaces the window.
  Membership again(fast());
  again.restore(*before.find(alive->node_id()), restart, milliseconds(2000));
  ASSERT_TRUE(again.touch(alive->node_id(), alive->epoch(), restart + milliseconds(100), 1).ok());
  EXPECT_TRUE(again.expire(restart + milliseconds(600)).empty());
  auto later = again.expire(restart + milliseconds(601));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_NE(later[0].dead_reason().find("no heartbeat"), std::string::npos);
}

}  // namespace
}  // namespace skein::coordinator
