// after(), Timer and Ticker: never early, Go's Stop/Reset return values, tick
// dropping for slow receivers, and Stop/Reset racing the firing.
#include <atomic>
#include <memory>
#include <random>
#include <vector>

#include "sched_fixture.hpp"
#include "skein/select.hpp"
#include "skein/timer.hpp"

namespace skein {
namespace {

using namespace std::chrono_literals;
using TimerChanTest = testing::SchedTest;

TEST_P(TimerChanTest, AfterNeverFiresEarly) {
  run([] {
    constexpr int kGoroutines = 200;
    std::atomic<std::int64_t> early{0};
    WaitGroup wg;
    wg.add(kGoroutines);
    for (int i = 0; i < kGoroutines; ++i) {
      go([&, i] {
        const auto d = std::chrono::milliseconds(5 + i % 10);
        const auto start = Clock::now();
        const Clock::time_point fired = after(d).recv().value();
        const auto now = Clock::now();
        if (fired - start < d || now - start < d) {
          early.fetch_add(1);
        }
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(early.load(), 0);
  });
}

TEST_P(TimerChanTest, AfterAsASelectTimeout) {
  run([] {
    Chan<int> never(0);
    const auto start = Clock::now();
    bool timed_out = false;
    EXPECT_EQ(select(recv(never), recv(after(20ms), [&] { timed_out = true; })), 1);
    EXPECT_TRUE(timed_out);
    EXPECT_GE(Clock::now() - start, 20ms);
  });
}

TEST_P(TimerChanTest, StopBeforeFiringReturnsTrueAndNothingArrives) {
  run([] {
    Timer t(30ms);
    EXPECT_TRUE(t.stop());
    EXPECT_FALSE(t.stop());  // already stopped
    sleep_for(50ms);
    EXPECT_EQ(t.c().try_recv().status, ChanStatus::kWouldBlock);
  });
}

TEST_P(TimerChanTest, StopAfterFiringReturnsFalseAndTheValueIsThere) {
  run([] {
    Timer t(5ms);
    sleep_for(20ms);
    EXPECT_FALSE(t.stop());
    EXPECT_EQ(t.c().len(), 1u);
    EXPECT_TRUE(t.c().try_recv());
  });
}

TEST_P(TimerChanTest, ResetReportsWhetherActiveAndMovesTheDeadline) {
  run([] {
    Timer t(1h);
    const auto start = Clock::now();
    EXPECT_TRUE(t.reset(20ms));  // was active
    const Clock::time_point fired = t.c().recv().value();
    EXPECT_GE(fired - start, 20ms);
    EXPECT_FALSE(t.reset(10ms));  // had fired
    EXPECT_TRUE(t.c().recv());
    EXPECT_FALSE(t.stop());
  });
}

TEST_P(TimerChanTest, TickerTicksOnItsPeriodNeverEarly) {
  run([] {
    constexpr auto kPeriod = 5ms;
    const auto start = Clock::now();  // before the ticker: its grid starts later
    Ticker tick(kPeriod);
    for (int i = 1; i <= 10; ++i) {
      const Clock::time_point at = tick.c().recv().value();
      EXPECT_GE(at - start, i * kPeriod) << "tick " << i << " early";
    }
    tick.stop();
    sleep_for(20ms);
    (void)tick.c().try_recv();  // a tick may have been in flight
    sleep_for(20ms);
    EXPECT_EQ(tick.c().try_recv().status, ChanStatus::kWouldBlock) << "ticking after stop";
  });
}

TEST_P(TimerChanTest, TickerDropsTicksForASlowReceiver) {
  run([] {
    Ticker tick(1ms);
    sleep_for(50ms);
    EXPECT_LE(tick.c().len(), 1u);  // capacity 1: the rest were dropped
    tick.stop();
  });
}

TEST_P(TimerChanTest, TickerResetChangesThePeriod) {
  run([] {
    Ticker tick(1h);
    const auto start = Clock::now();
    tick.reset(5ms);
    EXPECT_TRUE(tick.c().recv());
    EXPECT_TRUE(tick.c().recv());
    EXPECT_GE(Clock::now() - start, 10ms);
    EXPECT_LT(Clock::now() - start, 30min);
  });
}

TEST_P(TimerChanTest, StopAndResetRaceTheFiring) {
  // Many goroutines hammer their own timers with short resets and stops, so
  // that stop/reset often land while the timer is firing on another thread;
  // a shared timer gets concurrent resets from several goroutines at once.
  // Afterwards every timer is stopped and drained, and must stay silent.
  run([] {
    const int kGoroutines = 64 / (testing::kScale > 1 ? 4 : 1);
    const int kRounds = 300 / testing::kScale;
    Timer shared(1h);
    WaitGroup wg;
    wg.add(kGoroutines);
    std::atomic<int> fired{0};
    for (int g = 0; g < kGoroutines; ++g) {
      go([&, g] {
        std::minstd_rand rng(g + 1);
        Timer own(1h);
        for (int r = 0; r < kRounds; ++r) {
          const auto d = std::chrono::microseconds(rng() % 200);
          own.reset(d);
          shared.reset(d);
          if (rng() % 4 == 0) {
            sleep_for(std::chrono::microseconds(rng() % 300));
          }
          if (!own.stop()) {
            // Fired or firing: Go's drain idiom must not hang.
            if (own.c().recv()) {
              fired.fetch_add(1);
            }
          }
          (void)shared.c().try_recv();
        }
        wg.done();
      });
    }
    wg.wait();
    shared.stop();
    sleep_for(10ms);
    (void)shared.c().try_recv();
    sleep_for(10ms);
    EXPECT_EQ(shared.c().try_recv().status, ChanStatus::kWouldBlock);
    EXPECT_GT(fired.load(), 0);  // the race was actually exercised
  });
}

TEST_P(TimerChanTest, DroppedTimerNeverFires) {
  run([] {
    Chan<Clock::time_point> c;
    {
      Timer t(5ms);
      c = t.c();
    }  // destroyed: stopped
    sleep_for(20ms);
    EXPECT_EQ(c.try_recv().status, ChanStatus::kWouldBlock);
  });
}

TEST_P(TimerChanTest, RecvForAndSendFor) {
  run([] {
    Chan<std::unique_ptr<int>> ch(0);
    const auto start = Clock::now();
    RecvResult<std::unique_ptr<int>> r = recv_for(ch, 10ms);
    EXPECT_EQ(r.status, ChanStatus::kTimeout);
    EXPECT_GE(Clock::now() - start, 10ms);
    auto v = std::make_unique<int>(3);
    EXPECT_EQ(send_for(ch, std::move(v), 5ms), ChanStatus::kTimeout);
    ASSERT_NE(v, nullptr);  // not sent: still ours
    WaitGroup wg;
    wg.add(1);
    go([&] {
      EXPECT_EQ(*recv_for(ch, 1h).value.value(), 3);
      wg.done();
    });
    EXPECT_EQ(send_for(ch, std::move(v), 1h), ChanStatus::kOk);
    EXPECT_EQ(v, nullptr);
    wg.wait();
    ch.close();
    EXPECT_EQ(recv_for(ch, 1h).status, ChanStatus::kClosed);
  });
}

INSTANTIATE_TEST_SUITE_P(Procs, TimerChanTest, ::testing::Values(1, 2, 4), testing::procs_name);

}  // namespace
}  // namespace skein
