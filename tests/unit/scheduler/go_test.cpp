#include <atomic>
#include <thread>
#include <vector>

#include "sched_fixture.hpp"

namespace skein {
namespace {

using testing::kScale;
using GoTest = testing::SchedTest;

TEST_P(GoTest, MillionGoroutinesSpawnedAndJoined) {
  const int n = 1'000'000 / kScale;
  std::atomic<std::int64_t> sum{0};
  run([&] {
    WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      go([&, i] {
        sum.fetch_add(i, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(sum.load(), static_cast<std::int64_t>(n) * (n - 1) / 2);
}

// Each goroutine spawns two children until depth 0; every inner goroutine
// waits for its children, so about 2^(depth+1) goroutines are alive at once.
// Under TSan each goroutine is a TSan fiber, and TSan dies past 8128 of them.
void tree(int depth, std::atomic<int>& leaves) {
  if (depth == 0) {
    leaves.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  WaitGroup wg;
  wg.add(2);
  for (int i = 0; i < 2; ++i) {
    go([&, depth] {
      tree(depth - 1, leaves);
      wg.done();
    });
  }
  wg.wait();
}

TEST_P(GoTest, NestedSpawns) {
  const int depth = testing::kScale == 1 ? 15 : 11;
  std::atomic<int> leaves{0};
  run([&] { tree(depth, leaves); });
  EXPECT_EQ(leaves.load(), 1 << depth);
}

TEST_P(GoTest, GoroutineIdsAreUniqueAndMainIsOne) {
  const int n = 10'000 / kScale;
  std::vector<std::uint64_t> ids(n);
  std::uint64_t main_id = 0;
  run([&] {
    main_id = goroutine_id();
    WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      go([&, i] {
        ids[i] = goroutine_id();
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(main_id, 1u);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
  EXPECT_GT(ids.front(), 1u);
  EXPECT_EQ(goroutine_id(), 0u) << "the test thread is not a goroutine";
}

TEST_P(GoTest, YieldLetsOthersRun) {
  // Two goroutines alternate through yield: with procs=1 neither can finish
  // unless yield really switches.
  std::atomic<int> turn{0};
  const int kRounds = 1000 / kScale;
  run([&] {
    WaitGroup wg;
    wg.add(2);
    for (int me = 0; me < 2; ++me) {
      go([&, me] {
        for (int i = 0; i < kRounds; ++i) {
          while (turn.load() % 2 != me) {
            yield();
          }
          turn.fetch_add(1);
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(turn.load(), 2 * kRounds);
}

TEST_P(GoTest, MainReturnValueIsTheExitCode) {
  Runtime rt(Config{.procs = procs()});
  EXPECT_EQ(rt.run([] { return 7; }), 7);
  EXPECT_EQ(rt.run([] {}), 0) << "a runtime can run more than once";
}

TEST_P(GoTest, LargeClosureFitsOnItsOwnStack) {
  std::array<char, 4096> big{};
  big[100] = 42;
  int seen = 0;
  run([&] {
    WaitGroup wg;
    wg.add(1);
    go([&wg, &seen, big] {
      seen = big[100];
      wg.done();
    });
    wg.wait();
  });
  EXPECT_EQ(seen, 42);
}

SKEIN_INSTANTIATE_PROCS(GoTest);

TEST(Runtime, SeveralRuntimesSideBySide) {
  std::atomic<int> total{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&] {
      Runtime rt(Config{.procs = 2});
      rt.run([&] {
        WaitGroup wg;
        wg.add(1000);
        for (int i = 0; i < 1000; ++i) {
          go([&] {
            total.fetch_add(1);
            wg.done();
          });
        }
        wg.wait();
      });
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(total.load(), 3000);
}

TEST(Runtime, GoFromAForeignThreadWhileRunning) {
  Runtime rt(Config{.procs = 2});
  std::atomic<int> ran{0};
  rt.run([&] {
    WaitGroup wg;
    wg.add(10);
    // A plain thread spawning into the running runtime, and waiting on a
    // WaitGroup with the thread-blocking stand-in.
    std::thread t([&] {
      for (int i = 0; i < 10; ++i) {
        go([&] {
          ran.fetch_add(1);
          wg.done();
        });
      }
      wg.wait();
    });
    wg.wait();
    t.join();
  });
  EXPECT_EQ(ran.load(), 10);
}

TEST(Runtime, ConfigFromEnv) {
  setenv("SKEIN_PROCS", "3", 1);
  setenv("SKEIN_STACK_SIZE", "128K", 1);
  Config c = Config::from_env();
  EXPECT_EQ(c.procs, 3);
  EXPECT_EQ(c.stack_size, 128u * 1024);
  setenv("SKEIN_PROCS", "zero", 1);
  setenv("SKEIN_STACK_SIZE", "1", 1);
  c = Config::from_env();
  EXPECT_EQ(c.procs, 0) << "invalid values are ignored";
  EXPECT_EQ(c.stack_size, Config{}.stack_size);
  unsetenv("SKEIN_PROCS");
  unsetenv("SKEIN_STACK_SIZE");
  Runtime rt(Config{.procs = 3});
  EXPECT_EQ(rt.config().procs, 3);
  EXPECT_EQ(rt.stats().procs, 3);
}

}  // namespace
}  // namespace skein
