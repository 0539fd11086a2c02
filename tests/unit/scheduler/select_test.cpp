// select: fairness among ready cases, default, blocking, close, mixed element
// types, and thousands of goroutines selecting on the same channels.
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "sched_fixture.hpp"
#include "skein/chan.hpp"
#include "skein/select.hpp"

namespace skein {
namespace {

using namespace std::chrono_literals;
using SelectTest = testing::SchedTest;

TEST_P(SelectTest, UniformAmongReadyCases) {
  // Four channels that are always ready; count which case select picks.
  // Pearson's chi-square with 3 degrees of freedom: P(X > 50) ~ 8e-11 for a
  // uniform choice, so a failure means a real bias, not bad luck. A select
  // that always polled in order would give X ~ 3n.
  run([] {
    const int n = 100'000 / testing::kScale;
    std::array<Chan<int>, 4> chans{Chan<int>(1), Chan<int>(1), Chan<int>(1), Chan<int>(1)};
    for (auto& c : chans) {
      c.send(0);
    }
    std::array<int, 4> hits{};
    for (int i = 0; i < n; ++i) {
      const int k = select(recv(chans[0]), recv(chans[1]), recv(chans[2]), recv(chans[3]));
      ASSERT_GE(k, 0);
      ASSERT_LT(k, 4);
      ++hits[k];
      ASSERT_EQ(chans[k].try_send(0), ChanStatus::kOk);  // ready again
    }
    const double expected = n / 4.0;
    double chi2 = 0;
    for (int h : hits) {
      chi2 += (h - expected) * (h - expected) / expected;
    }
    EXPECT_LT(chi2, 50.0) << "hits " << hits[0] << " " << hits[1] << " " << hits[2] << " "
                          << hits[3];
  });
}

TEST_P(SelectTest, DefaultFiresOnlyWhenNothingIsReady) {
  run([] {
    Chan<int> a(1);
    Chan<std::string> b(0);
    bool defaulted = false;
    EXPECT_EQ(select(recv(a), recv(b), default_([&] { defaulted = true; })), 2);
    EXPECT_TRUE(defaulted);
    a.send(5);
    int got = 0;
    EXPECT_EQ(select(default_(), recv(a, [&](std::optional<int> v) { got = v.value(); }), recv(b)),
              1);
    EXPECT_EQ(got, 5);
    // A send case with room beats default.
    EXPECT_EQ(select(send(a, 6), default_()), 0);
    EXPECT_EQ(a.recv(), 6);
  });
}

TEST_P(SelectTest, BlocksUntilACaseIsReady) {
  run([] {
    Chan<int> ints(0);
    Chan<std::string> strs(0);
    WaitGroup wg;
    wg.add(1);
    go([&] {
      sleep_for(20ms);
      strs.send("hello");
      wg.done();
    });
    std::string got;
    const auto start = Clock::now();
    const int k =
        select(recv(ints, [](std::optional<int>) { FAIL() << "ints fired"; }),
               recv(strs, [&](std::optional<std::string> s) { got = s.value_or("closed"); }));
    EXPECT_EQ(k, 1);
    EXPECT_EQ(got, "hello");
    EXPECT_GE(Clock::now() - start, 15ms);
    wg.wait();
  });
}

TEST_P(SelectTest, BlockedSendCaseIsTakenByAReceiver) {
  run([] {
    Chan<int> a(0);
    Chan<int> b(0);
    WaitGroup wg;
    wg.add(1);
    go([&] {
      sleep_for(10ms);
      EXPECT_EQ(b.recv(), 2);
      wg.done();
    });
    bool sent = false;
    EXPECT_EQ(select(send(a, 1), send(b, 2, [&] { sent = true; })), 1);
    EXPECT_TRUE(sent);
    wg.wait();
  });
}

TEST_P(SelectTest, ClosedChannelIsAlwaysReadyWithNullopt) {
  run([] {
    Chan<int> open(0);
    Chan<int> closed(0);
    closed.close();
    std::optional<int> got = 1;
    EXPECT_EQ(select(recv(open), recv(closed, [&](std::optional<int> v) { got = v; })), 1);
    EXPECT_EQ(got, std::nullopt);
  });
}

TEST_P(SelectTest, CloseWakesABlockedSelect) {
  run([] {
    Chan<int> a(0);
    Chan<double> b(0);
    WaitGroup wg;
    wg.add(1);
    go([&] {
      sleep_for(10ms);
      b.close();
      wg.done();
    });
    bool closed_seen = false;
    EXPECT_EQ(select(recv(a), recv(b, [&](std::optional<double> v) { closed_seen = !v; })), 1);
    EXPECT_TRUE(closed_seen);
    wg.wait();
  });
}

TEST_P(SelectTest, SameChannelInSeveralCases) {
  // The channel is locked once; a partner can take either direction.
  run([] {
    Chan<int> ch(0);
    WaitGroup wg;
    wg.add(1);
    go([&] {
      sleep_for(10ms);
      EXPECT_EQ(ch.recv(), 3);
      wg.done();
    });
    EXPECT_EQ(select(recv(ch), send(ch, 3), recv(ch)), 1);
    wg.wait();
    go([ch]() mutable { ch.send(4); });
    int got = 0;
    EXPECT_NE(select(recv(ch, [&](std::optional<int> v) { got = *v; }), send(ch, 5)), 1);
    EXPECT_EQ(got, 4);
  });
}

TEST_P(SelectTest, MoveOnlySendValueStaysWhenAnotherCaseFires) {
  run([] {
    Chan<std::unique_ptr<int>> full(0);
    Chan<int> ready(1);
    ready.send(1);
    auto keep = std::make_unique<int>(7);
    EXPECT_EQ(select(send(full, keep), recv(ready)), 1);
    ASSERT_NE(keep, nullptr);
    EXPECT_EQ(*keep, 7);
    Chan<std::unique_ptr<int>> room(1);
    EXPECT_EQ(select(send(room, keep), default_()), 0);
    EXPECT_EQ(keep, nullptr);
    EXPECT_EQ(*room.recv().value(), 7);
  });
}

TEST_P(SelectTest, ThousandsOfSelectingGoroutinesLoseAndDuplicateNothing) {
  // Both ends select: 1000 senders each offer their values on two channels,
  // 1000 receivers each take from either; every value must arrive exactly
  // once. Unbuffered channels force select-to-select rendezvous, where the
  // one-winner CAS is what prevents a case firing twice.
  for (std::size_t cap : {0u, 4u}) {
    run([cap] {
      const int kSenders = 1000 / testing::kScale;
      const int kReceivers = 1000 / testing::kScale;
      constexpr int kPerSender = 20;
      const int total = kSenders * kPerSender;
      Chan<int> a(cap);
      Chan<int> b(cap);
      std::unique_ptr<std::atomic<int>[]> seen(new std::atomic<int>[total]);
      for (int i = 0; i < total; ++i) {
        seen[i] = 0;
      }
      WaitGroup senders;
      WaitGroup receivers;
      senders.add(kSenders);
      receivers.add(kReceivers);
      for (int r = 0; r < kReceivers; ++r) {
        go([&] {
          bool a_open = true;
          bool b_open = true;
          auto on = [&](bool& open) {
            return [&](std::optional<int> v) {
              if (!v) {
                open = false;
              } else {
                seen[*v].fetch_add(1);
              }
            };
          };
          while (a_open || b_open) {
            // A closed channel's case is replaced by the nil channel.
            select(recv(a_open ? a : Chan<int>(), on(a_open)),
                   recv(b_open ? b : Chan<int>(), on(b_open)));
          }
          receivers.done();
        });
      }
      for (int s = 0; s < kSenders; ++s) {
        go([&, s] {
          for (int i = 0; i < kPerSender; ++i) {
            int v = s * kPerSender + i;
            select(send(a, v), send(b, v));
          }
          senders.done();
        });
      }
      senders.wait();
      a.close();
      b.close();
      receivers.wait();
      int missing = 0;
      int duplicated = 0;
      for (int i = 0; i < total; ++i) {
        missing += seen[i] == 0;
        duplicated += seen[i] > 1;
      }
      EXPECT_EQ(missing, 0);
      EXPECT_EQ(duplicated, 0);
    });
  }
}

TEST_P(SelectTest, SelectAgainstPlainOperations) {
  // One goroutine selects on many channels in a loop while plain senders and
  // receivers hit each of them.
  run([] {
    constexpr int kChans = 8;
    const int per = 2000 / testing::kScale;
    std::vector<Chan<int>> in;
    for (int i = 0; i < kChans; ++i) {
      in.emplace_back(0);
    }
    for (int i = 0; i < kChans; ++i) {
      go([ch = in[i], per]() mutable {
        for (int k = 0; k < per; ++k) {
          ch.send(1);
        }
      });
    }
    long sum = 0;
    for (int n = 0; n < kChans * per; ++n) {
      auto add = [&](std::optional<int> v) { sum += *v; };
      select(recv(in[0], add), recv(in[1], add), recv(in[2], add), recv(in[3], add),
             recv(in[4], add), recv(in[5], add), recv(in[6], add), recv(in[7], add));
    }
    EXPECT_EQ(sum, kChans * per);
  });
}

TEST_P(SelectTest, StaleSelectWaiterIsSkippedBySecondSender) {
  // A select parked on a and b; senders hit both at once. One wins the
  // select; the other must skip the stale Waiter left on its channel and
  // park, so its value is still there for the next receiver (never lost,
  // never delivered twice).
  for (int round = 0; round < 50 / testing::kScale + 5; ++round) {
    run([] {
      Chan<int> a(0);
      Chan<int> b(0);
      int got = 0;
      WaitGroup selected;
      WaitGroup senders;
      selected.add(1);
      senders.add(2);
      go([&] {
        auto take = [&](std::optional<int> v) { got = *v; };
        select(recv(a, take), recv(b, take));
        selected.done();
      });
      sleep_for(1ms);
      go([&] {
        a.send(1);
        senders.done();
      });
      go([&] {
        b.send(2);
        senders.done();
      });
      selected.wait();
      int other = 0;
      auto take = [&](std::optional<int> v) { other = *v; };
      select(recv(a, take), recv(b, take));
      senders.wait();
      EXPECT_EQ(got + other, 3);
      EXPECT_NE(got, other);
    });
  }
}

INSTANTIATE_TEST_SUITE_P(Procs, SelectTest, ::testing::Values(1, 2, 4), testing::procs_name);

TEST(SelectDeathTest, SendCaseOnClosedChannelPanics) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          Chan<int> ch(1);
          ch.close();
          select(send(ch, 1), default_());
        });
      },
      ::testing::ExitedWithCode(2), "send on closed channel");
}

TEST(SelectDeathTest, CloseWhileSelectSendIsParkedPanics) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          Chan<int> a(0);
          Chan<int> b(0);
          go([a] {
            sleep_for(std::chrono::milliseconds(20));
            a.close();
          });
          select(send(a, 1), recv(b));
        });
      },
      ::testing::ExitedWithCode(2), "send on closed channel");
}

}  // namespace
}  // namespace skein
