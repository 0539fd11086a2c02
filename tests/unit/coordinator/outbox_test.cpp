// The per-agent outbox: batches queued behind a write in progress merge, the
// message being written never changes, order and wire limits hold.
#include "outbox.hpp"

#include <gtest/gtest.h>

namespace skein::coordinator {
namespace {

v1::CoordinatorMessage tasks(uint64_t job, uint64_t worker, int n, uint64_t first_id,
                             size_t args_bytes = 8) {
  v1::CoordinatorMessage m;
  m.mutable_tasks()->set_job_id(job);
  m.mutable_tasks()->mutable_owner()->set_node_id("node-1");
  m.mutable_tasks()->mutable_owner()->set_worker_id(worker);
  for (int i = 0; i < n; ++i) {
    auto* t = m.mutable_tasks()->add_tasks();
    t->set_task_id(first_id + static_cast<uint64_t>(i));
    t->set_args(std::string(args_bytes, 'a'));
  }
  return m;
}

v1::CoordinatorMessage results(uint64_t job, uint64_t worker, int n, uint64_t first_id) {
  v1::CoordinatorMessage m;
  m.mutable_results()->set_job_id(job);
  m.mutable_results()->mutable_owner()->set_node_id("node-1");
  m.mutable_results()->mutable_owner()->set_worker_id(worker);
  for (int i = 0; i < n; ++i) {
    m.mutable_results()->add_results()->set_task_id(first_id + static_cast<uint64_t>(i));
  }
  return m;
}

TEST(Outbox, IdleStreamSendsAloneBusyStreamMergesBehindTheWrite) {
  Outbox box;
  box.push(tasks(1, 1, 3, 1), /*front_busy=*/false);
  EXPECT_EQ(box.size(), 1u);
  // The front is being written now: nothing may be added to it.
  box.push(tasks(1, 1, 2, 4), /*front_busy=*/true);
  EXPECT_EQ(box.size(), 2u);
  EXPECT_EQ(box.front().tasks().tasks_size(), 3);
  box.push(tasks(1, 1, 2, 6), true);
  box.push(tasks(1, 1, 1, 8), true);
  ASSERT_EQ(box.size(), 2u);
  EXPECT_EQ(box.merged(), 2u);
  box.pop_front();
  const auto& merged = box.front().tasks();
  ASSERT_EQ(merged.tasks_size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(merged.tasks(i).task_id(), 4u + static_cast<uint64_t>(i)) << "order kept";
  }
}

TEST(Outbox, OnlySameKindJobAndOwnerMergeAndOrderIsKept) {
  Outbox box;
  box.push(results(1, 1, 1, 1), false);  // front, being written
  box.push(results(1, 1, 1, 2), true);
  box.push(results(1, 2, 1, 3), true);  // other owner worker
  box.push(results(2, 2, 1, 4), true);  // other job
  box.push(tasks(2, 2, 1, 5), true);    // other kind
  v1::CoordinatorMessage cancel;
  cancel.mutable_cancel_job()->set_job_id(2);
  box.push(std::move(cancel), true);
  box.push(tasks(2, 2, 1, 6), true);  // not merged across the cancel
  EXPECT_EQ(box.size(), 7u);
  EXPECT_EQ(box.merged(), 0u);
}

TEST(Outbox, MergedBatchesRespectTheEntryAndByteLimits) {
  Outbox box;
  box.push(tasks(1, 1, 1, 1), false);
  box.push(tasks(1, 1, 1000, 10), true);
  box.push(tasks(1, 1, 100, 2000), true);  // 1100 > 1024: new message
  EXPECT_EQ(box.size(), 3u);
  box.push(tasks(1, 1, 1, 3000, Outbox::kMaxPayloadBytes), true);  // bytes: new message
  EXPECT_EQ(box.size(), 4u);
  box.push(tasks(1, 1, 1, 4000), true);  // the big one is full by bytes
  EXPECT_EQ(box.size(), 5u);
}

TEST(Outbox, TakeAllHandsBackEverythingOldestFirst) {
  Outbox box;
  box.push(tasks(1, 1, 2, 1), false);
  box.push(results(1, 1, 1, 9), true);
  box.push(tasks(1, 1, 1, 3), true);
  auto all = box.take_all();
  EXPECT_TRUE(box.empty());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].tasks().tasks(1).task_id(), 2u);
  EXPECT_TRUE(all[1].has_results());
  EXPECT_EQ(all[2].tasks().tasks(0).task_id(), 3u);
}

}  // namespace
}  // namespace skein::coordinator
