// TaskLedger: tasks in flight per task-worker slot, handed back as kWorkerLost.
#include "agent/task_ledger.hpp"

#include <gtest/gtest.h>

namespace skein::node {
namespace {

skein::v1::TaskBatch batch(std::uint64_t job, const std::string& node, std::uint64_t worker,
                           std::uint64_t first, int n, std::uint32_t attempt = 1) {
  skein::v1::TaskBatch b;
  b.set_job_id(job);
  b.mutable_owner()->set_node_id(node);
  b.mutable_owner()->set_worker_id(worker);
  for (int i = 0; i < n; ++i) {
    auto* t = b.add_tasks();
    t->set_task_id(first + static_cast<std::uint64_t>(i));
    t->set_attempt(attempt);
  }
  return b;
}

skein::v1::ResultBatch answer(const skein::v1::TaskBatch& tasks) {
  skein::v1::ResultBatch r;
  r.set_job_id(tasks.job_id());
  *r.mutable_owner() = tasks.owner();
  for (const auto& t : tasks.tasks()) {
    auto* x = r.add_results();
    x->set_task_id(t.task_id());
    x->set_attempt(t.attempt());
  }
  return r;
}

TEST(TaskLedger, ResultsClearExactlyTheTasksTheyAnswer) {
  TaskLedger ledger;
  const auto a = batch(1, "node-1", 7, 1, 5);
  ledger.add(10, a);
  EXPECT_EQ(ledger.size(), 5u);
  // Same task ids from another owner, or another attempt, are other tasks.
  EXPECT_EQ(ledger.clear(10, answer(batch(1, "node-2", 7, 1, 5))), 0u);
  EXPECT_EQ(ledger.clear(10, answer(batch(1, "node-1", 7, 1, 5, /*attempt=*/2))), 0u);
  EXPECT_EQ(ledger.clear(11, answer(a)), 0u);  // another slot
  EXPECT_EQ(ledger.clear(10, answer(batch(1, "node-1", 7, 2, 2))), 2u);
  EXPECT_EQ(ledger.size(), 3u);
  EXPECT_EQ(ledger.clear(10, answer(a)), 3u);  // a duplicate result clears nothing twice
  EXPECT_EQ(ledger.size(), 0u);
  EXPECT_EQ(ledger.size(10), 0u);
}

TEST(TaskLedger, TakeLostFailsEverythingOfTheSlotGroupedByOwner) {
  TaskLedger ledger;
  ledger.add(1, batch(4, "node-1", 7, 1, 3));
  ledger.add(1, batch(4, "node-2", 2, 50, 2));
  ledger.add(2, batch(4, "node-1", 7, 100, 1));  // another worker's: untouched
  const auto lost =
      ledger.take_lost(1, "worker pid 812 on node n2 killed by signal 9 (Killed)", "n2");
  ASSERT_EQ(lost.size(), 2u);
  std::size_t n = 0;
  for (const auto& b : lost) {
    EXPECT_EQ(b.job_id(), 4u);
    for (const auto& r : b.results()) {
      EXPECT_EQ(r.error(), kTaskErrorWorkerLost);
      EXPECT_EQ(r.message(), "worker pid 812 on node n2 killed by signal 9 (Killed)");
      EXPECT_EQ(r.node(), "n2");
      EXPECT_EQ(r.attempt(), 1u);
      ++n;
    }
    if (b.owner().node_id() == "node-2") {
      EXPECT_EQ(b.owner().worker_id(), 2u);
      ASSERT_EQ(b.results_size(), 2);
      EXPECT_EQ(b.results(0).task_id(), 50u);
    }
  }
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(ledger.size(), 1u);
  EXPECT_TRUE(ledger.take_lost(1, "again", "n2").empty());
}

TEST(TaskLedger, LostBatchesHoldAtMostTheWireLimit) {
  TaskLedger ledger;
  ledger.add(1, batch(4, "node-1", 7, 1, 2500));
  const auto lost = ledger.take_lost(1, "gone", "n1");
  ASSERT_EQ(lost.size(), 3u);
  EXPECT_EQ(lost[0].results_size(), kMaxBatchEntries);
  EXPECT_EQ(lost[2].results_size(), 2500 - 2 * kMaxBatchEntries);
  const auto refused = lost_results(batch(4, "node-1", 7, 1, 1030), "no StartJob", "n1");
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[1].results_size(), 6);
  EXPECT_EQ(refused[1].results(5).task_id(), 1030u);
  EXPECT_EQ(refused[1].results(5).error(), kTaskErrorWorkerLost);
}

}  // namespace
}  // namespace skein::node
