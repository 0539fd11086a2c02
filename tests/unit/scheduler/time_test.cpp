#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "sched_fixture.hpp"

namespace skein {
namespace {

using namespace std::chrono_literals;
using TimeTest = testing::SchedTest;

TEST_P(TimeTest, SleepNeverEndsEarly) {
  run([] {
    WaitGroup wg;
    const int n = 200;
    wg.add(n);
    std::atomic<std::int64_t> min_ns{INT64_MAX};
    for (int i = 0; i < n; ++i) {
      go([&] {
        auto start = Clock::now();
        sleep_for(10ms);
        std::int64_t took = std::chrono::nanoseconds(Clock::now() - start).count();
        std::int64_t cur = min_ns.load();
        while (took < cur && !min_ns.compare_exchange_weak(cur, took)) {
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_GE(min_ns.load(), std::chrono::nanoseconds(10ms).count());
  });
}

TEST_P(TimeTest, TimersFireInDeadlineOrder) {
  // Goroutines sleep 25..225 ms, spawned in scrambled order. With one P all
  // timers share one heap and one M, so the wake order is exactly the
  // deadline order even when the OS wakes the M late (a late M fires the due
  // timers as one batch, in order). With more Ps the timers sit in several
  // heaps served by several threads, and the OS may delay one thread past
  // another's deadline: there, only "never early" is guaranteed.
  std::vector<int> order;
  std::vector<std::int64_t> lateness_ns;
  run([&] {
    Mutex mu;
    WaitGroup wg;
    const int delays[] = {125, 25, 225, 75, 175, 50, 200, 100, 150};
    wg.add(std::size(delays));
    const auto start = Clock::now();
    for (int d : delays) {
      go([&, d] {
        sleep_until(start + std::chrono::milliseconds(d));
        auto late = Clock::now() - (start + std::chrono::milliseconds(d));
        {
          // Unlock before done(): main may return (and destroy mu) as soon
          // as the last done() lands.
          std::lock_guard lock(mu);
          order.push_back(d);
          lateness_ns.push_back(std::chrono::nanoseconds(late).count());
        }
        wg.done();
      });
    }
    wg.wait();
  });
  ASSERT_EQ(order.size(), 9u);
  for (std::int64_t late : lateness_ns) {
    EXPECT_GE(late, 0) << "a timer fired early";
  }
  if (procs() == 1) {
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << ::testing::PrintToString(order);
  }
}

TEST_P(TimeTest, SleepingGoroutinesDoNotBlockOthers) {
  run([] {
    std::atomic<bool> sleeper_done{false};
    WaitGroup wg;
    wg.add(1);
    go([&] {
      sleep_for(50ms);
      sleeper_done = true;
      wg.done();
    });
    // This goroutine keeps running (and yielding) while the other sleeps.
    int spins = 0;
    while (!sleeper_done.load()) {
      ++spins;
      yield();
    }
    wg.wait();
    EXPECT_GT(spins, 0);
  });
}

TEST_P(TimeTest, SleepOnPlainThreadSleepsTheThread) {
  auto start = Clock::now();
  sleep_for(5ms);
  EXPECT_GE(Clock::now() - start, 5ms);
}

SKEIN_INSTANTIATE_PROCS(TimeTest);

}  // namespace
}  // namespace skein
