// DistWaitGroup in local mode: joining 100,000 spawned tasks, mixing spawned
// tasks with add/done, failures reported by wait() with every failed task id,
// deadlines that bound wait(), and wait_for.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "remote/remote_context.hpp"
#include "sched_fixture.hpp"
#include "skein/go.hpp"
#include "skein/spawn.hpp"
#include "skein/time.hpp"

namespace wg_test {

std::atomic<std::int64_t> g_sum{0};
void add_to_sum(int v) { g_sum.fetch_add(v, std::memory_order_relaxed); }

void fail_if_multiple_of(int v, int k) {
  if (v % k == 0) {
    throw std::domain_error("multiple of " + std::to_string(k) + ": " + std::to_string(v));
  }
  g_sum.fetch_add(v, std::memory_order_relaxed);
}

void nap(int ms) { skein::sleep_for(std::chrono::milliseconds(ms)); }

SKEIN_REMOTE(add_to_sum);
SKEIN_REMOTE(fail_if_multiple_of);
SKEIN_REMOTE(nap);

}  // namespace wg_test

namespace skein {
namespace {

using namespace std::chrono_literals;
using namespace wg_test;
using RemoteWaitGroupTest = testing::SchedTest;

TEST_P(RemoteWaitGroupTest, Joins100kTasks) {
  run([] {
    const int n = 100'000 / testing::kScale;
    g_sum = 0;
    DistWaitGroup wg;
    const auto t0 = Clock::now();
    for (int i = 1; i <= n; ++i) {
      spawn(wg, SKEIN_FN(add_to_sum), i);
    }
    wg.wait();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_EQ(wg.count(), 0);
    EXPECT_EQ(g_sum.load(), static_cast<std::int64_t>(n) * (n + 1) / 2);
    EXPECT_TRUE(wg.failures().empty());
    std::printf("[ info ] %d tasks spawned and joined in %.3f s (%.0f tasks/s)\n", n, secs,
                n / secs);
  });
}

TEST_P(RemoteWaitGroupTest, SpawnedTasksAndManualCountsMix) {
  run([] {
    g_sum = 0;
    DistWaitGroup wg;
    wg.add(2);
    for (int i = 0; i < 2; ++i) {
      go([wg]() mutable {
        sleep_for(5ms);
        g_sum.fetch_add(1000);
        wg.done();
      });
    }
    for (int i = 0; i < 50; ++i) {
      spawn(wg, SKEIN_FN(add_to_sum), 1);
    }
    wg.wait();
    EXPECT_EQ(g_sum.load(), 2050);
    // Reuse for a second round.
    spawn(wg, SKEIN_FN(add_to_sum), 7);
    wg.wait();
    EXPECT_EQ(g_sum.load(), 2057);
  });
}

TEST_P(RemoteWaitGroupTest, WaitThrowsNamingEveryFailedTask) {
  run([] {
    g_sum = 0;
    DistWaitGroup wg;
    std::vector<std::uint64_t> failing_ids;
    for (int i = 1; i <= 30; ++i) {
      const std::uint64_t id = spawn(wg, SKEIN_FN(fail_if_multiple_of), i, 10);
      if (i % 10 == 0) {
        failing_ids.push_back(id);
      }
    }
    try {
      wg.wait();
      ADD_FAILURE() << "wait() did not throw";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.kind(), TaskError::kException);
      EXPECT_EQ(e.type_name(), "std::domain_error");
      const std::string what = e.what();
      for (std::uint64_t id : failing_ids) {
        EXPECT_NE(what.find(std::to_string(id) + " (fail_if_multiple_of, std::domain_error)"),
                  std::string::npos)
            << what;
      }
    }
    // Every task finished, the failed ones included: nothing left to wait for.
    EXPECT_EQ(wg.count(), 0);
    EXPECT_EQ(g_sum.load(), 465 - 60);
    auto failures = wg.failures();
    ASSERT_EQ(failures.size(), 3u);
    for (const TaskFailure& f : failures) {
      EXPECT_EQ(f.node, "local");
      EXPECT_EQ(f.function, "fail_if_multiple_of");
      EXPECT_NE(std::find(failing_ids.begin(), failing_ids.end(), f.task_id), failing_ids.end());
    }
    // The group stays failed.
    EXPECT_THROW(wg.wait(), RemoteError);
  });
}

TEST_P(RemoteWaitGroupTest, DeadlineBoundsWait) {
  run([] {
    const std::uint64_t dup_before = detail::process_owner_table().counters().duplicates;
    DistWaitGroup wg;
    spawn(wg, SKEIN_FN(nap), 1);
    const std::uint64_t slow = spawn(wg, SpawnOptions{.deadline = 20ms}, SKEIN_FN(nap), 400);
    const auto t0 = Clock::now();
    try {
      wg.wait();
      ADD_FAILURE() << "wait() did not throw";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.kind(), TaskError::kDeadlineExceeded);
      EXPECT_EQ(e.task_id(), slow);
    }
    EXPECT_LT(Clock::now() - t0, 300ms);
    // The abandoned attempt ends later; its completion is dropped as a duplicate.
    for (int i = 0; i < 1000 && detail::process_owner_table().counters().duplicates == dup_before;
         ++i) {
      sleep_for(10ms);
    }
    EXPECT_EQ(detail::process_owner_table().counters().duplicates, dup_before + 1);
    EXPECT_EQ(wg.count(), 0);
    EXPECT_EQ(wg.failures().size(), 1u);
  });
}

TEST_P(RemoteWaitGroupTest, WaitForGivesUpAndKeepsTheCount) {
  run([] {
    DistWaitGroup wg;
    EXPECT_TRUE(wg.wait_for(1ms));  // nothing to wait for
    spawn(wg, SKEIN_FN(nap), 100);
    EXPECT_FALSE(wg.wait_for(10ms));
    EXPECT_EQ(wg.count(), 1);
    EXPECT_TRUE(wg.wait_for(5s));
    EXPECT_EQ(wg.count(), 0);
  });
}

TEST(RemoteWaitGroupDeathTest, NegativeCounterIsFatal) {
  EXPECT_EXIT(
      {
        DistWaitGroup wg;
        wg.done();
      },
      ::testing::ExitedWithCode(2), "DistWaitGroup counter went negative");
}

SKEIN_INSTANTIATE_PROCS(RemoteWaitGroupTest);

}  // namespace
}  // namespace skein
