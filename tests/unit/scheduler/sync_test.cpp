#include <atomic>
#include <mutex>
#include <vector>

#include "sched_fixture.hpp"

namespace skein {
namespace {

using testing::kScale;
using SyncTest = testing::SchedTest;

TEST_P(SyncTest, MutexCounterUnderContention) {
  constexpr int kGoroutines = 64;
  const int per = 10'000 / kScale;
  std::int64_t counter = 0;  // deliberately not atomic: the Mutex protects it
  run([&] {
    Mutex mu;
    WaitGroup wg;
    wg.add(kGoroutines);
    for (int i = 0; i < kGoroutines; ++i) {
      go([&] {
        for (int j = 0; j < per; ++j) {
          std::lock_guard lock(mu);
          ++counter;
          if (j % 100 == 0) {
            yield();  // hold the lock across a switch now and then
          }
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(counter, static_cast<std::int64_t>(kGoroutines) * per);
}

TEST_P(SyncTest, MutexTryLock) {
  run([] {
    Mutex mu;
    EXPECT_TRUE(mu.try_lock());
    EXPECT_FALSE(mu.try_lock());
    bool other = true;
    WaitGroup wg;
    wg.add(1);
    go([&] {
      other = mu.try_lock();
      wg.done();
    });
    wg.wait();
    EXPECT_FALSE(other);
    mu.unlock();
    EXPECT_TRUE(mu.try_lock());
    mu.unlock();
  });
}

TEST_P(SyncTest, WaitGroupReuse) {
  run([] {
    WaitGroup wg;
    std::atomic<int> done{0};
    for (int round = 1; round <= 50; ++round) {
      wg.add(round);
      for (int i = 0; i < round; ++i) {
        go([&] {
          done.fetch_add(1);
          wg.done();
        });
      }
      wg.wait();
      EXPECT_EQ(done.load(), round * (round + 1) / 2);
      EXPECT_EQ(wg.count(), 0);
    }
  });
}

TEST_P(SyncTest, ManyWaitersOnOneWaitGroup) {
  run([] {
    WaitGroup gate;
    gate.add(1);
    WaitGroup waiters;
    std::atomic<int> released{0};
    const int n = 1000;
    waiters.add(n);
    for (int i = 0; i < n; ++i) {
      go([&] {
        gate.wait();
        released.fetch_add(1);
        waiters.done();
      });
    }
    sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(released.load(), 0);
    gate.done();
    waiters.wait();
    EXPECT_EQ(released.load(), n);
  });
}

TEST_P(SyncTest, OnceRunsExactlyOnce) {
  std::atomic<int> calls{0};
  run([&] {
    Once once;
    WaitGroup wg;
    wg.add(100);
    for (int i = 0; i < 100; ++i) {
      go([&] {
        once.call([&] {
          sleep_for(std::chrono::milliseconds(2));  // callers arriving now must wait
          calls.fetch_add(1);
        });
        EXPECT_EQ(calls.load(), 1) << "call() returned before the function finished";
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(calls.load(), 1);
}

SKEIN_INSTANTIATE_PROCS(SyncTest);

using SyncDeathTest = testing::SchedTest;

TEST(SyncDeathTest, NegativeWaitGroupCounterIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          WaitGroup wg;
          wg.done();
        });
      },
      ::testing::ExitedWithCode(2), "fatal error: sync: negative WaitGroup counter");
}

TEST(SyncDeathTest, UnlockOfUnlockedMutexIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 1});
        rt.run([] {
          Mutex mu;
          mu.unlock();
        });
      },
      ::testing::ExitedWithCode(2), "fatal error: sync: unlock of unlocked mutex");
}

}  // namespace
}  // namespace skein
