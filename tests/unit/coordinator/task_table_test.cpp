// The in-flight task table: exact bookkeeping per node, attempts, node
// death, job end, and what one in-flight task costs in memory.
#include "task_table.hpp"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdio>

namespace skein::coordinator {
namespace {

TEST(TaskTable, InsertCompleteAndCountsPerNode) {
  TaskTable t;
  t.insert(7, TaskKey{1, 10, 0}, TaskPlace{1, 2});
  t.insert(7, TaskKey{1, 11, 0}, TaskPlace{1, 2});
  t.insert(8, TaskKey{1, 10, 0}, TaskPlace{1, 3});  // same key, other job: distinct
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.in_flight_on(2), 2);
  EXPECT_EQ(t.in_flight_on(3), 1);
  EXPECT_EQ(t.in_flight_on(99), 0);
  EXPECT_FALSE(t.complete(7, TaskKey{1, 10, 0}, 2)) << "another attempt's outcome";
  EXPECT_TRUE(t.complete(7, TaskKey{1, 10, 0}, 1));
  EXPECT_FALSE(t.complete(7, TaskKey{1, 10, 0}, 1)) << "duplicate";
  EXPECT_FALSE(t.complete(9, TaskKey{1, 10, 0}, 1)) << "unknown job";
  EXPECT_EQ(t.in_flight_on(2), 1);
  EXPECT_EQ(t.size(), 2u);
}

TEST(TaskTable, ANewerAttemptReplacesTheOldOneAndMovesItsCount) {
  TaskTable t;
  t.insert(1, TaskKey{5, 1, 0}, TaskPlace{1, 1});
  t.insert(1, TaskKey{5, 1, 0}, TaskPlace{2, 2});
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.in_flight_on(1), 0);
  EXPECT_EQ(t.in_flight_on(2), 1);
  EXPECT_FALSE(t.complete(1, TaskKey{5, 1, 0}, 1));
  EXPECT_TRUE(t.complete(1, TaskKey{5, 1, 0}, 2));
}

TEST(TaskTable, NodeDeathReturnsItsTasksAndDropsTasksItOwned) {
  TaskTable t;
  t.insert(1, TaskKey{5, 1, /*owner=*/0}, TaskPlace{1, /*node=*/1});  // lost, owner alive
  t.insert(1, TaskKey{5, 2, 0}, TaskPlace{3, 2});                     // elsewhere: kept
  t.insert(2, TaskKey{6, 1, 1}, TaskPlace{1, 2});  // owned on the dead node: dropped silently
  t.insert(2, TaskKey{6, 2, 1}, TaskPlace{1, 1});  // owned and run there: dropped silently
  t.insert(3, TaskKey{7, 9, 2}, TaskPlace{4, 1});  // lost
  auto lost = t.take_node(1);
  ASSERT_EQ(lost.size(), 2u);
  std::sort(lost.begin(), lost.end(),
            [](const LostTask& a, const LostTask& b) { return a.job_id < b.job_id; });
  EXPECT_EQ(lost[0].job_id, 1u);
  EXPECT_EQ(lost[0].key.task_id, 1u);
  EXPECT_EQ(lost[1].job_id, 3u);
  EXPECT_EQ(lost[1].attempt, 4u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.in_flight_on(1), 0);
  EXPECT_EQ(t.in_flight_on(2), 1);
}

TEST(TaskTable, ForgetJobDropsOnlyThatJob) {
  TaskTable t;
  for (uint64_t i = 1; i <= 100; ++i) {
    t.insert(1, TaskKey{1, i, 0}, TaskPlace{1, static_cast<NodeIndex>(i % 3)});
  }
  t.insert(2, TaskKey{1, 1, 0}, TaskPlace{1, 0});
  EXPECT_EQ(t.forget_job(1), 100u);
  EXPECT_EQ(t.forget_job(1), 0u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.in_flight_on(0), 1);
  EXPECT_EQ(t.in_flight_on(1), 0);
}

// The issue asks for the coordinator's memory per in-flight task: measured
// two ways, the table's exact accounting and the heap delta malloc reports.
TEST(TaskTable, BytesPerInFlightTask) {
  constexpr uint64_t kTasks = 200000;
  struct mallinfo2 before = mallinfo2();
  auto t = std::make_unique<TaskTable>();
  for (uint64_t i = 1; i <= kTasks; ++i) {
    t->insert(1, TaskKey{3, i, 0}, TaskPlace{1, static_cast<NodeIndex>(i % 3)});
  }
  struct mallinfo2 after = mallinfo2();
  double accounted = static_cast<double>(t->bytes()) / kTasks;
  double heap =
      static_cast<double>((after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd)) /
      kTasks;
  std::printf(
      "in-flight table: %llu tasks, %.1f bytes/task accounted, %.1f bytes/task heap delta\n",
      static_cast<unsigned long long>(kTasks), accounted, heap);
  EXPECT_EQ(t->size(), kTasks);
  // A slot is 32 bytes + 1 control byte; the load factor keeps it <= 2x that.
  EXPECT_LE(accounted, 2 * 33 + 1);
  EXPECT_GE(heap, 33 * 0.8) << "the accounting must not overstate a real measurement";
  EXPECT_LE(heap, accounted * 1.1 + 1);
}

}  // namespace
}  // namespace skein::coordinator
