#include "job_table.hpp"

#include <gtest/gtest.h>

namespace skein::coordinator {
namespace {

JobTable::NewJob new_job(std::string key = "") {
  JobTable::NewJob n;
  n.binary_sha256 = std::string(64, 'a');
  n.binary_size = 10;
  n.args = {"--leaves", "1000"};
  n.idempotency_key = std::move(key);
  return n;
}

TEST(JobTable, CreateAssignsIncreasingIdsAndPending) {
  JobTable t;
  auto [a, created_a] = t.create(new_job(), 100);
  auto [b, created_b] = t.create(new_job(), 101);
  EXPECT_TRUE(created_a && created_b);
  EXPECT_EQ(a.job_id(), 1u);
  EXPECT_EQ(b.job_id(), 2u);
  EXPECT_EQ(a.state(), v1::JOB_STATE_PENDING);
  EXPECT_EQ(a.submitted_unix_ms(), 100);
  EXPECT_EQ(a.args_size(), 2);
  auto listed = t.list({}, 0);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].job_id(), 2u) << "newest first";
  EXPECT_EQ(t.list({}, 1).size(), 1u);
}

TEST(JobTable, SameIdempotencyKeyIsOneJob) {
  JobTable t;
  auto [a, created_a] = t.create(new_job("k1"), 1);
  auto [b, created_b] = t.create(new_job("k1"), 2);
  auto [c, created_c] = t.create(new_job("k2"), 3);
  EXPECT_TRUE(created_a);
  EXPECT_FALSE(created_b);
  EXPECT_TRUE(created_c);
  EXPECT_EQ(a.job_id(), b.job_id());
  EXPECT_NE(a.job_id(), c.job_id());
  EXPECT_EQ(t.size(), 2u);
}

TEST(JobTable, HappyPathTimestampsAndExitCodes) {
  JobTable t;
  uint64_t id = t.create(new_job(), 1).first.job_id();
  ASSERT_TRUE(t.place(id, "node-1").ok());
  EXPECT_EQ(t.place(id, "node-2").status().code(), absl::StatusCode::kFailedPrecondition);
  auto running = t.mark_running(id, 5);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(running->started_unix_ms(), 5);
  auto done = t.mark_exited(id, 0, 0, 9);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done->finished_unix_ms(), 9);
  EXPECT_TRUE(t.active_on("node-1").empty());
}

TEST(JobTable, ExitCodeAndSignalFail) {
  JobTable t;
  uint64_t a = t.create(new_job(), 1).first.job_id();
  uint64_t b = t.create(new_job(), 1).first.job_id();
  for (uint64_t id : {a, b}) {
    ASSERT_TRUE(t.place(id, "node-1").ok());
    ASSERT_TRUE(t.mark_running(id, 2).ok());
  }
  auto fa = t.mark_exited(a, 3, 0, 3);
  ASSERT_TRUE(fa.ok());
  EXPECT_EQ(fa->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(fa->exit_code(), 3);
  EXPECT_EQ(fa->error(), "exit code 3");
  EXPECT_TRUE(fa->exited());
  auto fb = t.mark_exited(b, 0, 11, 3);
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ(fb->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(fb->term_signal(), 11);
  EXPECT_NE(fb->error().find("SIGSEGV"), std::string::npos) << fb->error();
}

TEST(JobTable, TerminalStatesNeverChange) {
  JobTable t;
  uint64_t id = t.create(new_job(), 1).first.job_id();
  ASSERT_TRUE(t.place(id, "node-1").ok());
  ASSERT_TRUE(t.mark_running(id, 2).ok());
  ASSERT_TRUE(t.mark_exited(id, 0, 0, 3).ok());
  EXPECT_EQ(t.mark_running(id, 4).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t.mark_exited(id, 1, 0, 4).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t.mark_failed(id, "x", 4).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t.mark_node_lost(id, "x", 4).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t.request_cancel(id, "", 4).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(t.find(id)->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(t.mark_running(999, 1).status().code(), absl::StatusCode::kNotFound);
}

TEST(JobTable, CancelPendingIsImmediateCancelRunningWaitsForExit) {
  JobTable t;
  uint64_t pending = t.create(new_job(), 1).first.job_id();
  auto c = t.request_cancel(pending, "", 2);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(t.request_cancel(pending, "", 3).ok()) << "cancelling twice is fine";

  uint64_t running = t.create(new_job(), 1).first.job_id();
  ASSERT_TRUE(t.place(running, "node-1").ok());
  ASSERT_TRUE(t.mark_running(running, 2).ok());
  auto r = t.request_cancel(running, "user said so", 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state(), v1::JOB_STATE_RUNNING);
  EXPECT_TRUE(r->cancel_requested());
  auto exited = t.mark_exited(running, 143, 0, 4);  // killed by SIGTERM handler exit
  ASSERT_TRUE(exited.ok());
  EXPECT_EQ(exited->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_NE(exited->error().find("user said so"), std::string::npos);
}

TEST(JobTable, RestoreThenFailInFlightAfterRestart) {
  JobTable before;
  uint64_t unplaced = before.create(new_job("u"), 1).first.job_id();
  uint64_t placed = before.create(new_job(), 1).first.job_id();
  uint64_t running = before.create(new_job(), 1).first.job_id();
  uint64_t done = before.create(new_job(), 1).first.job_id();
  ASSERT_TRUE(before.place(placed, "node-1").ok());
  ASSERT_TRUE(before.place(running, "node-1").ok());
  ASSERT_TRUE(before.mark_running(running, 2).ok());
  ASSERT_TRUE(before.place(done, "node-1").ok());
  ASSERT_TRUE(before.mark_running(done, 2).ok());
  ASSERT_TRUE(before.mark_exited(done, 0, 0, 3).ok());

  JobTable after;
  for (const auto& j : before.list({}, 0)) {
    after.restore(j);
  }
  auto changed = after.fail_in_flight_after_restart(10);
  EXPECT_EQ(changed.size(), 2u);
  EXPECT_EQ(after.find(unplaced)->state(), v1::JOB_STATE_PENDING);
  EXPECT_EQ(after.find(placed)->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(after.find(running)->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(after.find(running)->error(), "coordinator restarted while the job ran");
  EXPECT_FALSE(after.find(running)->exited()) << "no exit code to show";
  EXPECT_EQ(after.find(done)->state(), v1::JOB_STATE_SUCCEEDED);
  // Ids continue after the highest restored one; keys still deduplicate.
  EXPECT_EQ(after.create(new_job(), 11).first.job_id(), done + 1);
  EXPECT_FALSE(after.create(new_job("u"), 11).second);
}

}  // namespace
}  // namespace skein::coordinator
