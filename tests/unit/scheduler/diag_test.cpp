// blocking(fn), sysmon and the diagnostics: deadlock detection, SIGQUIT dump,
// long-running goroutines.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "sched_fixture.hpp"
#include "skein/blocking.hpp"

namespace skein {
namespace {

using namespace std::chrono_literals;
using BlockingTest = testing::SchedTest;

TEST_P(BlockingTest, BlockingCallHandsItsPToOthers) {
  // With one P, a goroutine blocking its thread for 300 ms must not stop the
  // others: sysmon hands the P to another M.
  run([] {
    std::atomic<bool> blocked_done{false};
    std::atomic<int> progress{0};
    WaitGroup wg;
    wg.add(2);
    go([&] {
      int v = blocking([] {
        std::this_thread::sleep_for(300ms);
        return 7;
      });
      EXPECT_EQ(v, 7);
      blocked_done = true;
      wg.done();
    });
    go([&] {
      while (!blocked_done.load()) {
        progress.fetch_add(1);
        sleep_for(1ms);
      }
      wg.done();
    });
    wg.wait();
    EXPECT_GT(progress.load(), 50) << "other goroutines stalled during blocking()";
  });
}

TEST_P(BlockingTest, ShortBlockingCallsKeepTheirP) {
  run([] {
    const SchedStats before = current_runtime()->stats();
    int sum = 0;
    for (int i = 0; i < 10'000; ++i) {
      sum += blocking([i] { return i % 3; });
    }
    EXPECT_EQ(sum, 9999);
    EXPECT_LE(current_runtime()->stats().threads, before.threads + 1);
  });
}

TEST_P(BlockingTest, ExceptionsPassThrough) {
  run([] {
    EXPECT_THROW(blocking([]() -> int { throw std::runtime_error("io"); }), std::runtime_error);
    EXPECT_EQ(blocking([] { return 1; }), 1) << "the P is usable after an exception";
  });
}

SKEIN_INSTANTIATE_PROCS(BlockingTest);

TEST(Sysmon, CountsLongRunningGoroutines) {
  Runtime rt(Config{.procs = 2});
  rt.run([] {
    // 50 ms of work with no scheduling point.
    auto until = Clock::now() + 50ms;
    volatile std::uint64_t spin = 0;
    while (Clock::now() < until) {
      spin = spin + 1;
    }
  });
  EXPECT_GE(rt.stats().long_running, 1u);
}

TEST(DeadlockDeathTest, AllGoroutinesAsleepIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          WaitGroup never;
          never.add(1);
          go([&] { never.wait(); });
          never.wait();
        });
      },
      ::testing::ExitedWithCode(2),
      "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine [0-9]+ \\[waiting, "
      "sync.WaitGroup.Wait");
}

TEST(Deadlock, SleepingIsNotADeadlock) {
  Runtime rt(Config{.procs = 1});
  EXPECT_EQ(rt.run([] {
    sleep_for(300ms);  // longer than the deadlock grace period
    return 3;
  }),
            3);
}

TEST(Deadlock, ParkedGoroutinesAfterMainReturnedAreNotADeadlock) {
  Runtime rt(Config{.procs = 2});
  WaitGroup* leaked = new WaitGroup;  // outlives the abandoned goroutine
  leaked->add(1);
  rt.run([&] { go([&] { leaked->wait(); }); });
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(rt.stats().blocked, 1);
  leaked->done();
  std::this_thread::sleep_for(10ms);
  delete leaked;
}

TEST(DumpDeathTest, SigquitPrintsEveryGoroutine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          WaitGroup wg;
          wg.add(1);
          go([&] { sleep_for(10s); });
          sleep_for(20ms);
          ::raise(SIGQUIT);
          sleep_for(10s);
        });
      },
      ::testing::ExitedWithCode(2),
      "SIGQUIT: quit\n\ngoroutine [0-9]+ \\[waiting, sleep, [0-9]+ ms\\]");
}

}  // namespace
}  // namespace skein
