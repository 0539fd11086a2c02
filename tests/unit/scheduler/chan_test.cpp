// Chan<T> against the Go specification, case by case ("Channel types", "Send
// statements", "Receive operator", "Close"), on runtimes of 1, 2 and 4 Ps.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "sched_fixture.hpp"
#include "skein/chan.hpp"
#include "skein/select.hpp"

namespace skein {
namespace {

using namespace std::chrono_literals;
using ChanTest = testing::SchedTest;

TEST_P(ChanTest, UnbufferedSendWaitsForReceiver) {
  run([] {
    Chan<int> ch(0);
    std::atomic<bool> sent{false};
    WaitGroup wg;
    wg.add(1);
    go([&] {
      ch.send(42);
      sent = true;
      wg.done();
    });
    sleep_for(20ms);
    EXPECT_FALSE(sent.load()) << "a send on an unbuffered channel completed without a receiver";
    EXPECT_EQ(ch.len(), 0u);
    EXPECT_EQ(ch.recv(), 42);
    wg.wait();
    EXPECT_TRUE(sent.load());
  });
}

TEST_P(ChanTest, UnbufferedRecvWaitsForSender) {
  run([] {
    Chan<int> ch(0);
    std::atomic<bool> got{false};
    WaitGroup wg;
    wg.add(1);
    go([&] {
      EXPECT_EQ(ch.recv(), 7);
      got = true;
      wg.done();
    });
    sleep_for(20ms);
    EXPECT_FALSE(got.load());
    ch.send(7);
    wg.wait();
    EXPECT_TRUE(got.load());
  });
}

TEST_P(ChanTest, TryOpsOnUnbufferedNeedAPartner) {
  run([] {
    Chan<int> ch(0);
    EXPECT_EQ(ch.try_send(1), ChanStatus::kWouldBlock);
    EXPECT_EQ(ch.try_recv().status, ChanStatus::kWouldBlock);
    EXPECT_EQ(ch.cap(), 0u);
  });
}

TEST_P(ChanTest, BufferedLenCapAndFifo) {
  run([] {
    Chan<int> ch(3);
    EXPECT_EQ(ch.cap(), 3u);
    EXPECT_EQ(ch.len(), 0u);
    EXPECT_EQ(ch.try_send(1), ChanStatus::kOk);
    ch.send(2);
    int three = 3;
    EXPECT_EQ(ch.try_send(std::move(three)), ChanStatus::kOk);
    EXPECT_EQ(ch.len(), 3u);
    EXPECT_EQ(ch.try_send(4), ChanStatus::kWouldBlock);
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.len(), 2u);
    EXPECT_EQ(ch.try_send(4), ChanStatus::kOk);  // wraps around the ring
    for (int want = 2; want <= 4; ++want) {
      RecvResult<int> r = ch.try_recv();
      ASSERT_TRUE(r);
      EXPECT_EQ(*r.value, want);
    }
    EXPECT_EQ(ch.try_recv().status, ChanStatus::kWouldBlock);
    EXPECT_EQ(ch.len(), 0u);
  });
}

TEST_P(ChanTest, FullBufferParksSenderAndKeepsFifo) {
  // A receiver that finds a parked sender on a full buffer takes the head and
  // moves the sender's value to the tail: order stays 0, 1, 2.
  run([] {
    Chan<int> ch(2);
    ch.send(0);
    ch.send(1);
    std::atomic<bool> sent{false};
    WaitGroup wg;
    wg.add(1);
    go([&] {
      ch.send(2);
      sent = true;
      wg.done();
    });
    sleep_for(10ms);  // the sender parks on the full buffer
    EXPECT_FALSE(sent.load());
    EXPECT_EQ(ch.len(), 2u);
    for (int want = 0; want < 3; ++want) {
      EXPECT_EQ(ch.recv(), want);
    }
    wg.wait();
    EXPECT_EQ(ch.len(), 0u);
  });
}

TEST_P(ChanTest, FifoPerSender) {
  for (std::size_t cap : {0u, 1u, 16u}) {
    run([cap] {
      constexpr int kSenders = 8;
      const int per = 2000 / testing::kScale;
      Chan<std::pair<int, int>> ch(cap);
      for (int s = 0; s < kSenders; ++s) {
        go([ch, s, per]() mutable {
          for (int i = 0; i < per; ++i) {
            ch.send({s, i});
          }
        });
      }
      std::vector<int> next(kSenders, 0);
      for (int n = 0; n < kSenders * per; ++n) {
        auto [s, i] = *ch.recv();
        ASSERT_EQ(i, next[s]) << "sender " << s << " out of order, cap " << cap;
        ++next[s];
      }
    });
  }
}

TEST_P(ChanTest, CloseWakesAllReceivers) {
  run([] {
    Chan<int> ch(0);
    constexpr int kReceivers = 200;
    std::atomic<int> woke{0};
    WaitGroup wg;
    wg.add(kReceivers);
    for (int i = 0; i < kReceivers; ++i) {
      go([&] {
        EXPECT_EQ(ch.recv(), std::nullopt);
        woke.fetch_add(1);
        wg.done();
      });
    }
    sleep_for(20ms);
    EXPECT_EQ(woke.load(), 0);
    ch.close();
    wg.wait();
    EXPECT_EQ(woke.load(), kReceivers);
  });
}

TEST_P(ChanTest, RecvOnClosedDrainsThenReportsClosed) {
  run([] {
    Chan<int> ch(4);
    ch.send(1);
    ch.send(2);
    ch.close();
    EXPECT_EQ(ch.len(), 2u);
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.try_recv().value, 2);
    EXPECT_EQ(ch.recv(), std::nullopt);
    EXPECT_EQ(ch.recv().value_or(0), 0);  // Go's zero value, ok == false
    EXPECT_EQ(ch.try_recv().status, ChanStatus::kClosed);
  });
}

TEST_P(ChanTest, RangeForEndsAtClose) {
  run([] {
    Chan<int> ch(8);
    go([ch]() mutable {
      for (int i = 1; i <= 1000; ++i) {
        ch.send(i);
      }
      ch.close();
    });
    long sum = 0;
    int n = 0;
    for (int v : ch) {
      sum += v;
      ++n;
    }
    EXPECT_EQ(n, 1000);
    EXPECT_EQ(sum, 500500);
  });
}

TEST_P(ChanTest, MoveOnlyValues) {
  for (std::size_t cap : {0u, 2u}) {
    run([cap] {
      Chan<std::unique_ptr<int>> ch(cap);
      go([ch]() mutable {
        for (int i = 0; i < 10; ++i) {
          ch.send(std::make_unique<int>(i));
        }
        ch.close();
      });
      int want = 0;
      for (std::unique_ptr<int> p : ch) {
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(*p, want++);
      }
      EXPECT_EQ(want, 10);
      // A failed try_send leaves the value with the caller.
      Chan<std::unique_ptr<int>> full(0);
      auto keep = std::make_unique<int>(5);
      EXPECT_EQ(full.try_send(std::move(keep)), ChanStatus::kWouldBlock);
      ASSERT_NE(keep, nullptr);
      EXPECT_EQ(*keep, 5);
    });
  }
}

TEST_P(ChanTest, BufferedValuesAreDestroyedWithTheChannel) {
  auto tracked = std::make_shared<int>(1);
  run([&] {
    Chan<std::shared_ptr<int>> ch(8);
    for (int i = 0; i < 5; ++i) {
      ch.send(tracked);
    }
    EXPECT_EQ(ch.recv(), tracked);
    EXPECT_EQ(tracked.use_count(), 5);
  });
  EXPECT_EQ(tracked.use_count(), 1);
}

TEST_P(ChanTest, OverAlignedElements) {
  struct alignas(64) Wide {
    int v;
  };
  run([] {
    Chan<Wide> ch(3);
    for (int i = 0; i < 3; ++i) {
      ch.send(Wide{i});
    }
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(ch.recv()->v, i);
    }
  });
}

TEST_P(ChanTest, HandleCopiesShareOneChannel) {
  run([] {
    Chan<int> a(1);
    Chan<int> b = a;
    Chan<int> c;
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(a == c);
    EXPECT_FALSE(static_cast<bool>(c));
    b.send(9);
    EXPECT_EQ(a.len(), 1u);
    EXPECT_EQ(a.recv(), 9);
  });
}

TEST_P(ChanTest, NilChannelIsNeverReady) {
  run([] {
    Chan<int> nil;
    EXPECT_EQ(nil.try_send(1), ChanStatus::kWouldBlock);
    EXPECT_EQ(nil.try_recv().status, ChanStatus::kWouldBlock);
    EXPECT_EQ(nil.len(), 0u);
    EXPECT_EQ(nil.cap(), 0u);
    int fired = select(recv(nil), send(nil, 1), default_());
    EXPECT_EQ(fired, 2);
  });
}

TEST_P(ChanTest, ManyProducersAndConsumers) {
  for (std::size_t cap : {0u, 1u, 64u}) {
    run([cap] {
      constexpr int kProducers = 8;
      constexpr int kConsumers = 8;
      const std::int64_t per = 20000 / testing::kScale;
      Chan<std::int64_t> ch(cap);
      WaitGroup producers;
      WaitGroup consumers;
      std::atomic<std::int64_t> sum{0};
      std::atomic<std::int64_t> count{0};
      producers.add(kProducers);
      consumers.add(kConsumers);
      for (int c = 0; c < kConsumers; ++c) {
        go([&, ch]() mutable {
          std::int64_t s = 0;
          std::int64_t n = 0;
          for (std::int64_t v : ch) {
            s += v;
            ++n;
          }
          sum += s;
          count += n;
          consumers.done();
        });
      }
      for (int p = 0; p < kProducers; ++p) {
        go([&, ch, p]() mutable {
          for (std::int64_t i = 0; i < per; ++i) {
            ch.send(p * per + i);
          }
          producers.done();
        });
      }
      producers.wait();
      ch.close();
      consumers.wait();
      const std::int64_t n = kProducers * per;
      EXPECT_EQ(count.load(), n);
      EXPECT_EQ(sum.load(), n * (n - 1) / 2);
    });
  }
}

TEST_P(ChanTest, PlainThreadsUseChannelsToo) {
  // A thread that is not a goroutine blocks itself (not an M) on a channel.
  // Deadlock detection cannot see what such a thread will do, so it is
  // registered as an external waker while it runs.
  run([] {
    Chan<int> to_thread(0);
    Chan<int> from_thread(0);
    detail::add_external_wakers(1);
    std::thread t([&] {
      for (std::optional<int> v; (v = to_thread.recv());) {
        from_thread.send(*v * 2);
      }
      from_thread.close();
    });
    for (int i = 0; i < 100; ++i) {
      to_thread.send(i);
      EXPECT_EQ(from_thread.recv(), 2 * i);
    }
    to_thread.close();
    EXPECT_EQ(from_thread.recv(), std::nullopt);
    t.join();
    detail::add_external_wakers(-1);
  });
}

INSTANTIATE_TEST_SUITE_P(Procs, ChanTest, ::testing::Values(1, 2, 4), testing::procs_name);

// ---- Panics (Go: "send on closed channel", "close of closed channel") ------

TEST(ChanDeathTest, SendOnClosedChannelPanics) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          Chan<int> ch(1);
          ch.close();
          ch.send(1);
        });
      },
      ::testing::ExitedWithCode(2), "send on closed channel");
}

TEST(ChanDeathTest, TrySendOnClosedChannelPanics) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 1});
        rt.run([] {
          Chan<int> ch(1);
          ch.close();
          (void)ch.try_send(1);
        });
      },
      ::testing::ExitedWithCode(2), "send on closed channel");
}

TEST(ChanDeathTest, CloseWhileSenderParkedPanicsInTheSender) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          Chan<int> ch(0);
          WaitGroup wg;
          wg.add(1);
          go([&] {
            ch.send(1);
            wg.done();
          });
          sleep_for(20ms);
          ch.close();
          wg.wait();
        });
      },
      ::testing::ExitedWithCode(2), "send on closed channel");
}

TEST(ChanDeathTest, DoubleClosePanics) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          Chan<int> ch(0);
          ch.close();
          ch.close();
        });
      },
      ::testing::ExitedWithCode(2), "close of closed channel");
}

TEST(ChanDeathTest, CloseOfNilChannelPanics) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 1});
        rt.run([] {
          Chan<int> nil;
          nil.close();
        });
      },
      ::testing::ExitedWithCode(2), "close of nil channel");
}

}  // namespace
}  // namespace skein
