// The owner table's accounting rules (RELIABILITY R1), driven through the
// internal API: a transport that only records what it was asked to run, and
// completions delivered by hand — duplicated, stale, out of order, from many
// threads — as a cluster transport will deliver them after retries.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "remote/owner_table.hpp"
#include "remote/transport.hpp"
#include "skein/detail/serialize.hpp"
#include "skein/dist_waitgroup.hpp"
#include "skein/future.hpp"

namespace skein::detail {
namespace {

// Records each submitted attempt; runs nothing. Behaves as a cluster
// transport would for retries (attempts can be lost).
class RecordingTransport final : public TaskTransport {
 public:
  void submit(TaskSpec spec, CompletionSink& /*sink*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    submitted_.push_back(std::move(spec));
  }
  bool can_lose_tasks() const override { return true; }
  std::string_view node_name() const override { return "owner-node"; }

  std::vector<TaskSpec> submitted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return submitted_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<TaskSpec> submitted_;
};

TaskSpec make_spec(OwnerTable& table, SpawnOptions options = {}) {
  TaskSpec spec;
  spec.task_id = table.next_task_id();
  spec.function = "f";
  spec.args = encode(std::make_tuple(1, 2));
  spec.options = std::move(options);
  return spec;
}

TaskCompletion ok(std::uint64_t id, std::uint32_t attempt, int value, std::string node = "n1") {
  TaskOutcome o;
  o.result = encode(value);
  o.node = std::move(node);
  return TaskCompletion{id, attempt, std::move(o)};
}

TaskCompletion lost(std::uint64_t id, std::uint32_t attempt, TaskError e = TaskError::kWorkerLost) {
  TaskOutcome o;
  o.error = e;
  o.type_name = task_error_name(e);
  o.message = "worker 4242 exited on signal 9";
  o.node = "n2";
  return TaskCompletion{id, attempt, std::move(o)};
}

TEST(OwnerTableTest, RetriedTaskIsCountedOnceDespiteDuplicatesAndStaleAttempts) {
  RecordingTransport transport;
  OwnerTable table(transport);
  DistWaitGroup wg;
  TaskSpec spec = make_spec(table);
  const std::uint64_t id = spec.task_id;
  table.launch(std::move(spec), nullptr, wg.state());
  EXPECT_EQ(wg.count(), 1);

  table.complete(lost(id, 1));  // attempt 1 lost with its worker: retried
  ASSERT_EQ(transport.submitted().size(), 2u);
  EXPECT_EQ(transport.submitted()[1].attempt, 2u);
  EXPECT_EQ(transport.submitted()[1].task_id, id);
  EXPECT_EQ(transport.submitted()[1].args, transport.submitted()[0].args);
  EXPECT_EQ(wg.count(), 1);

  table.complete(lost(id, 1));  // the same loss reported twice: stale
  EXPECT_EQ(wg.count(), 1);
  table.complete(ok(id, 2, 5));  // attempt 2 succeeds: counted
  EXPECT_EQ(wg.count(), 0);
  table.complete(ok(id, 2, 5));  // resent result: duplicate
  table.complete(ok(id, 1, 5));  // attempt 1 had run after all: duplicate
  table.complete(lost(id, 2));   // loss after success: duplicate
  EXPECT_EQ(wg.count(), 0);
  wg.wait();  // no failure recorded

  OwnerTable::Counters c = table.counters();
  EXPECT_EQ(c.launched, 1u);
  EXPECT_EQ(c.succeeded, 1u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(c.retried, 1u);
  EXPECT_EQ(c.stale, 1u);
  EXPECT_EQ(c.duplicates, 3u);
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(transport.submitted().size(), 2u);
}

TEST(OwnerTableTest, OlderAttemptsSuccessSettlesTheTask) {
  RecordingTransport transport;
  OwnerTable table(transport);
  TaskSpec spec = make_spec(table);
  const std::uint64_t id = spec.task_id;
  auto state = std::make_shared<FutureState>(id, "f");
  table.launch(std::move(spec), state, nullptr);
  table.complete(lost(id, 1, TaskError::kNodeLost));  // retried as attempt 2
  table.complete(ok(id, 1, 11, "slow-node"));         // attempt 1's late value wins
  table.complete(ok(id, 2, 22, "fast-node"));         // duplicate
  Future<int> f(state);
  ASSERT_TRUE(f.ready());
  EXPECT_EQ(f.get(), 11);
  EXPECT_EQ(state->attempt(), 1u);
  EXPECT_EQ(state->outcome().node, "slow-node");
  EXPECT_EQ(table.counters().duplicates, 1u);
}

TEST(OwnerTableTest, UnknownIdsAndFutureAttemptsAreIgnored) {
  RecordingTransport transport;
  OwnerTable table(transport);
  DistWaitGroup wg;
  TaskSpec spec = make_spec(table);
  const std::uint64_t id = spec.task_id;
  table.launch(std::move(spec), nullptr, wg.state());
  table.complete(ok(id + 1000, 1, 0));  // never issued
  table.complete(ok(0, 1, 0));          // never issued
  table.complete(ok(id, 3, 0));         // attempt 3 was never submitted
  table.complete(ok(id, 0, 0));         // attempts start at 1
  EXPECT_EQ(wg.count(), 1);
  EXPECT_EQ(table.counters().unknown, 4u);
  table.complete(ok(id, 1, 0));
  EXPECT_EQ(wg.count(), 0);
}

TEST(OwnerTableTest, RetryBudgetIsMaxRetries) {
  RecordingTransport transport;
  OwnerTable table(transport);
  TaskSpec spec = make_spec(table, SpawnOptions{.max_retries = 2});
  const std::uint64_t id = spec.task_id;
  auto state = std::make_shared<FutureState>(id, "f");
  table.launch(std::move(spec), state, nullptr);
  table.complete(lost(id, 1));
  table.complete(lost(id, 2));
  EXPECT_FALSE(state->ready());
  table.complete(lost(id, 3));  // third loss: budget (2 retries) spent
  ASSERT_TRUE(state->ready());
  EXPECT_EQ(transport.submitted().size(), 3u);
  try {
    Future<int>(state).get();
    ADD_FAILURE() << "get() did not throw";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.kind(), TaskError::kWorkerLost);
    EXPECT_EQ(e.attempt(), 3u);
    EXPECT_EQ(e.node(), "n2");
    EXPECT_EQ(e.task_id(), id);
    EXPECT_NE(std::string(e.what()).find("worker lost: worker 4242 exited on signal 9"),
              std::string::npos)
        << e.what();
  }
}

TEST(OwnerTableTest, ExceptionsAndPoisonAreNotRetriedByDefault) {
  RecordingTransport transport;
  OwnerTable table(transport);
  for (TaskError e : {TaskError::kException, TaskError::kPoisoned, TaskError::kUnknownFunction}) {
    TaskSpec spec = make_spec(table);
    const std::uint64_t id = spec.task_id;
    auto state = std::make_shared<FutureState>(id, "f");
    table.launch(std::move(spec), state, nullptr);
    table.complete(lost(id, 1, e));
    EXPECT_TRUE(state->ready()) << task_error_name(e);
  }
  EXPECT_EQ(transport.submitted().size(), 3u);  // no resubmission
  EXPECT_EQ(table.counters().failed, 3u);
}

TEST(OwnerTableTest, FailAllSettlesEveryPendingTaskOnce) {
  RecordingTransport transport;
  OwnerTable table(transport);
  DistWaitGroup wg;
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 10; ++i) {
    TaskSpec spec = make_spec(table);
    ids.push_back(spec.task_id);
    table.launch(std::move(spec), nullptr, wg.state());
  }
  table.complete(ok(ids[0], 1, 0));
  table.fail_all(TaskError::kCanceled, "job 7 was cancelled");
  EXPECT_EQ(wg.count(), 0);
  EXPECT_EQ(wg.failures().size(), 9u);
  table.complete(ok(ids[5], 1, 0));  // too late: duplicate
  EXPECT_EQ(wg.count(), 0);
  EXPECT_THROW(wg.wait(), RemoteError);
}

// Many tasks, each completed several times by several threads in random
// order, with stale failures mixed in: every task is counted exactly once.
TEST(OwnerTableTest, ConcurrentDuplicateCompletionsCountEachTaskOnce) {
  constexpr int kTasks = 20'000;
  constexpr int kThreads = 4;
  RecordingTransport transport;
  OwnerTable table(transport);
  DistWaitGroup wg;
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < kTasks; ++i) {
    TaskSpec spec = make_spec(table);
    ids.push_back(spec.task_id);
    table.launch(std::move(spec), nullptr, wg.state());
  }
  // Attempt 1 of every task is lost first, so attempt 2 is current.
  for (std::uint64_t id : ids) {
    table.complete(lost(id, 1));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint64_t> order = ids;
      std::mt19937_64 rng(t + 1);
      std::shuffle(order.begin(), order.end(), rng);
      for (std::uint64_t id : order) {
        table.complete(lost(id, 1));   // stale (or duplicate once settled)
        table.complete(ok(id, 2, 1));  // first of these settles, the rest are duplicates
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(wg.count(), 0);
  wg.wait();
  OwnerTable::Counters c = table.counters();
  EXPECT_EQ(c.succeeded, static_cast<std::uint64_t>(kTasks));
  EXPECT_EQ(c.retried, static_cast<std::uint64_t>(kTasks));
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(c.stale + c.duplicates, static_cast<std::uint64_t>(2 * kThreads * kTasks - kTasks));
}

TEST(OwnerTableTest, ThirdWorkerDeathPoisonsTheTaskEvenWithBudgetLeft) {
  RecordingTransport transport;
  OwnerTable table(transport);
  TaskSpec spec = make_spec(table, SpawnOptions{.max_retries = 10});
  const std::uint64_t id = spec.task_id;
  auto state = std::make_shared<FutureState>(id, "f");
  table.launch(std::move(spec), state, nullptr);
  table.complete(lost(id, 1));
  table.complete(lost(id, 1));  // stale: not a second death
  table.complete(lost(id, 2));
  EXPECT_FALSE(state->ready());
  TaskCompletion third = lost(id, 3);
  third.outcome.message = "worker pid 812 on node n2 killed by signal 11 (Segmentation fault)";
  table.complete(std::move(third));
  ASSERT_TRUE(state->ready());
  EXPECT_EQ(transport.submitted().size(), 3u);  // no fourth run
  try {
    Future<int>(state).get();
    ADD_FAILURE() << "get() did not throw";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.kind(), TaskError::kPoisoned);
    EXPECT_EQ(e.attempt(), 3u);
    const std::string what = e.what();
    EXPECT_NE(what.find("task " + std::to_string(id) + " (f)"), std::string::npos) << what;
    EXPECT_NE(what.find("3 worker deaths"), std::string::npos) << what;
    EXPECT_NE(what.find("signal 11 (Segmentation fault)"), std::string::npos) << what;
  }
  EXPECT_EQ(table.counters().poisoned, 1u);
}

TEST(OwnerTableTest, NodeLossesAreNotWorkerDeaths) {
  RecordingTransport transport;
  OwnerTable table(transport);
  TaskSpec spec = make_spec(table, SpawnOptions{.max_retries = 10});
  const std::uint64_t id = spec.task_id;
  auto state = std::make_shared<FutureState>(id, "f");
  table.launch(std::move(spec), state, nullptr);
  table.complete(lost(id, 1));
  table.complete(lost(id, 2, TaskError::kNodeLost));
  table.complete(lost(id, 3, TaskError::kNodeLost));
  table.complete(lost(id, 4));  // the second death
  table.complete(lost(id, 5, TaskError::kNodeLost));
  EXPECT_FALSE(state->ready());
  ASSERT_EQ(transport.submitted().size(), 6u);
  table.complete(ok(id, 6, 9));
  EXPECT_EQ(Future<int>(state).get(), 9);
}

TEST(OwnerTableTest, NegativeMaxRetriesMeansNoLimitForNodeLosses) {
  RecordingTransport transport;
  OwnerTable table(transport);
  TaskSpec spec = make_spec(table, SpawnOptions{.max_retries = -1});
  const std::uint64_t id = spec.task_id;
  auto state = std::make_shared<FutureState>(id, "f");
  table.launch(std::move(spec), state, nullptr);
  for (std::uint32_t a = 1; a <= 20; ++a) {
    table.complete(lost(id, a, TaskError::kNodeLost));
  }
  EXPECT_FALSE(state->ready());
  ASSERT_EQ(transport.submitted().size(), 21u);
  EXPECT_EQ(transport.submitted().back().args, transport.submitted().front().args);
  table.complete(ok(id, 21, 4));
  EXPECT_EQ(Future<int>(state).get(), 4);
}

TEST(OwnerTableTest, CloseFailsPendingTasksStopsRetriesAndRefusesLaunches) {
  RecordingTransport transport;
  OwnerTable table(transport);
  DistWaitGroup wg;
  TaskSpec a = make_spec(table);
  const std::uint64_t a_id = a.task_id;
  table.launch(std::move(a), nullptr, wg.state());
  table.close(TaskError::kNodeLost, "lost the connection to node agent of n1");
  EXPECT_EQ(wg.count(), 0);
  table.complete(lost(a_id, 1));  // after the close: a duplicate, no retry
  EXPECT_EQ(transport.submitted().size(), 1u);
  TaskSpec b = make_spec(table);
  auto state = std::make_shared<FutureState>(b.task_id, "f");
  table.launch(std::move(b), state, nullptr);
  ASSERT_TRUE(state->ready());  // settled at once, never submitted
  EXPECT_EQ(transport.submitted().size(), 1u);
  EXPECT_EQ(state->outcome().error, TaskError::kNodeLost);
  EXPECT_EQ(state->outcome().message, "lost the connection to node agent of n1");
  EXPECT_THROW(wg.wait(), RemoteError);
  table.close(TaskError::kCanceled, "second close is ignored");
  EXPECT_EQ(table.counters().launched, 2u);
  EXPECT_EQ(table.counters().failed, 2u);
}

}  // namespace
}  // namespace skein::detail
