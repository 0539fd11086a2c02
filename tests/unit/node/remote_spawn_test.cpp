// spawn + Future in local mode: every task goes through the registry and the
// cereal archives and runs as a goroutine on the test's runtime. Covers value
// round trips of many types, Future<void>, exceptions as RemoteError,
// get_for, when_all, select on done(), deadlines, retries of exceptions and
// nested spawns.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "remote/remote_context.hpp"
#include "sched_fixture.hpp"
#include "skein/blocking.hpp"
#include "skein/chan.hpp"
#include "skein/select.hpp"
#include "skein/spawn.hpp"
#include "skein/time.hpp"
#include "skein/timer.hpp"

namespace remote_test {

struct Point {
  double x = 0;
  double y = 0;
  std::string label;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, y, label);
  }
  friend bool operator==(const Point&, const Point&) = default;
};

long square(int n) { return static_cast<long>(n) * n; }
std::string greet(const std::string& who, int times) {
  std::string s;
  for (int i = 0; i < times; ++i) {
    s += "hello " + who + ";";
  }
  return s;
}
std::vector<double> scale(std::vector<double> v, double k) {
  for (double& x : v) {
    x *= k;
  }
  return v;
}
std::map<std::string, int> invert(const std::map<int, std::string>& m) {
  std::map<std::string, int> out;
  for (const auto& [k, v] : m) {
    out[v] = k;
  }
  return out;
}
std::optional<int> half_if_even(std::optional<int> v) {
  if (!v || *v % 2 != 0) {
    return std::nullopt;
  }
  return *v / 2;
}
Point mirror(Point p) { return Point{p.y, p.x, p.label + "'"}; }
std::tuple<int, std::string, bool> pack(int a, std::string b, bool c) { return {a * 2, b + b, !c}; }
std::uint64_t sum_u64(std::vector<std::uint64_t> v) {
  std::uint64_t s = 0;
  for (auto x : v) {
    s += x;
  }
  return s;
}

std::atomic<int> g_side_effect{0};
void bump(int by) { g_side_effect.fetch_add(by); }

int fail_with(int code) {
  if (code == 1) {
    throw std::invalid_argument("code 1 is invalid");
  }
  if (code == 2) {
    throw 42;  // not a std::exception
  }
  return code;
}

int sleepy(int ms) {
  skein::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

std::atomic<int> g_flaky_calls{0};
int flaky(int fail_times) {
  if (g_flaky_calls.fetch_add(1) < fail_times) {
    throw std::runtime_error("flaky");
  }
  return 7;
}

// A remote task that itself spawns remote tasks (the owner is this process).
long sum_of_squares(int n) {
  std::vector<skein::Future<long>> fs;
  for (int i = 1; i <= n; ++i) {
    fs.push_back(skein::spawn(SKEIN_FN(square), i));
  }
  long s = 0;
  for (long v : skein::when_all(fs)) {
    s += v;
  }
  return s;
}

int not_registered(int x) { return x; }

SKEIN_REMOTE(square);
SKEIN_REMOTE(greet);
SKEIN_REMOTE(scale);
SKEIN_REMOTE(invert);
SKEIN_REMOTE(half_if_even);
SKEIN_REMOTE(mirror);
SKEIN_REMOTE(pack);
SKEIN_REMOTE(sum_u64);
SKEIN_REMOTE(bump);
SKEIN_REMOTE(fail_with);
SKEIN_REMOTE(sleepy);
SKEIN_REMOTE(flaky);
SKEIN_REMOTE(sum_of_squares);

}  // namespace remote_test

namespace skein {
namespace {

using namespace std::chrono_literals;
using namespace remote_test;
using RemoteSpawnTest = testing::SchedTest;

// Waits (bounded) until the process's owner table has dropped `n` duplicate
// completions in all: the late result of a task whose deadline passed.
bool wait_for_duplicates(std::uint64_t n) {
  for (int i = 0; i < 1000; ++i) {
    if (detail::process_owner_table().counters().duplicates >= n) {
      return detail::process_owner_table().counters().duplicates == n;
    }
    sleep_for(10ms);
  }
  return false;
}

TEST_P(RemoteSpawnTest, RoundTripsManyTypes) {
  run([] {
    EXPECT_EQ(spawn(SKEIN_FN(square), 12).get(), 144);
    EXPECT_EQ(spawn(SKEIN_FN(greet), std::string("bob"), 2).get(), "hello bob;hello bob;");
    EXPECT_EQ(spawn(SKEIN_FN(scale), std::vector<double>{1.5, -2, 0}, 2.0).get(),
              (std::vector<double>{3, -4, 0}));
    std::map<int, std::string> m{{1, "one"}, {2, "two"}, {30, "thirty"}};
    EXPECT_EQ(spawn(SKEIN_FN(invert), m).get(),
              (std::map<std::string, int>{{"one", 1}, {"two", 2}, {"thirty", 30}}));
    EXPECT_EQ(spawn(SKEIN_FN(half_if_even), std::optional<int>(10)).get(), std::optional<int>(5));
    EXPECT_EQ(spawn(SKEIN_FN(half_if_even), std::optional<int>(3)).get(), std::nullopt);
    EXPECT_EQ(spawn(SKEIN_FN(half_if_even), std::optional<int>()).get(), std::nullopt);
    EXPECT_EQ(spawn(SKEIN_FN(mirror), Point{1.25, -3, "p"}).get(), (Point{-3, 1.25, "p'"}));
    EXPECT_EQ(spawn(SKEIN_FN(pack), 21, std::string("ab"), false).get(),
              std::make_tuple(42, std::string("abab"), true));
    // Implicit conversions to the parameter types happen before encoding.
    EXPECT_EQ(spawn(SKEIN_FN(greet), "lit", 1).get(), "hello lit;");
    EXPECT_EQ(spawn(SKEIN_FN(square), static_cast<short>(-9)).get(), 81);
  });
}

TEST_P(RemoteSpawnTest, LargeArgumentRoundTrip) {
  run([] {
    std::vector<std::uint64_t> v(1'000'000);
    std::uint64_t expect = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      v[i] = i * 2654435761u;
      expect += v[i];
    }
    EXPECT_EQ(spawn(SKEIN_FN(sum_u64), v).get(), expect);
  });
}

TEST_P(RemoteSpawnTest, FutureVoidAndSharedGet) {
  run([] {
    const int before = g_side_effect.load();
    Future<void> f = spawn(SKEIN_FN(bump), 5);
    Future<void> copy = f;
    f.get();
    copy.get();  // a second get on the same task is fine
    EXPECT_TRUE(f.ready());
    EXPECT_EQ(g_side_effect.load(), before + 5);
    EXPECT_TRUE(f.get_for(1ms));

    Future<long> g = spawn(SKEIN_FN(square), 3);
    EXPECT_EQ(g.get(), 9);
    EXPECT_EQ(g.get(), 9);
  });
}

TEST_P(RemoteSpawnTest, TaskIdsAreUniqueAndIncreasing) {
  run([] {
    std::vector<Future<long>> fs;
    for (int i = 0; i < 100; ++i) {
      fs.push_back(spawn(SKEIN_FN(square), i));
    }
    for (std::size_t i = 1; i < fs.size(); ++i) {
      EXPECT_LT(fs[i - 1].task_id(), fs[i].task_id());
    }
    when_all(fs);
  });
}

TEST_P(RemoteSpawnTest, ExceptionBecomesRemoteError) {
  run([] {
    Future<int> f = spawn(SKEIN_FN(fail_with), 1);
    try {
      f.get();
      ADD_FAILURE() << "get() did not throw";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.kind(), TaskError::kException);
      EXPECT_EQ(e.type_name(), "std::invalid_argument");
      EXPECT_EQ(e.message(), "code 1 is invalid");
      EXPECT_EQ(e.node(), "local");
      EXPECT_EQ(e.task_id(), f.task_id());
      EXPECT_EQ(e.function(), "fail_with");
      EXPECT_EQ(e.attempt(), 1u);
      const std::string what = e.what();
      EXPECT_NE(what.find("remote task " + std::to_string(f.task_id())), std::string::npos) << what;
      EXPECT_NE(what.find("std::invalid_argument: code 1 is invalid"), std::string::npos) << what;
    }
    // A RemoteError is a std::runtime_error.
    EXPECT_THROW(f.get(), std::runtime_error);

    try {
      spawn(SKEIN_FN(fail_with), 2).get();
      ADD_FAILURE() << "get() did not throw";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.type_name(), "int");
      EXPECT_EQ(e.kind(), TaskError::kException);
    }
    EXPECT_EQ(spawn(SKEIN_FN(fail_with), 5).get(), 5);
  });
}

TEST_P(RemoteSpawnTest, SpawnOfUnregisteredFunctionThrows) {
  run([] {
    try {
      spawn(SKEIN_FN(not_registered), 1);
      ADD_FAILURE() << "spawn did not throw";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.kind(), TaskError::kUnknownFunction);
      EXPECT_NE(std::string(e.what()).find("SKEIN_REMOTE"), std::string::npos);
    }
  });
}

TEST_P(RemoteSpawnTest, GetForTimesOutThenSucceeds) {
  run([] {
    Future<int> f = spawn(SKEIN_FN(sleepy), 200);
    const auto t0 = Clock::now();
    std::optional<int> v = f.get_for(20ms);
    const auto waited = Clock::now() - t0;
    EXPECT_FALSE(v.has_value());
    EXPECT_FALSE(f.ready());
    EXPECT_GE(waited, 20ms);
    EXPECT_LT(waited, 190ms);
    EXPECT_EQ(f.get_for(5s), std::optional<int>(200));
    EXPECT_TRUE(f.ready());
  });
}

TEST_P(RemoteSpawnTest, WhenAllKeepsOrderAndReportsFirstFailure) {
  run([] {
    std::vector<Future<long>> fs;
    for (int i = 0; i < 200; ++i) {
      fs.push_back(spawn(SKEIN_FN(square), i));
    }
    std::vector<long> vs = when_all(fs);
    ASSERT_EQ(vs.size(), 200u);
    for (int i = 0; i < 200; ++i) {
      EXPECT_EQ(vs[i], static_cast<long>(i) * i);
    }

    std::vector<Future<int>> mixed{spawn(SKEIN_FN(fail_with), 3), spawn(SKEIN_FN(fail_with), 1),
                                   spawn(SKEIN_FN(sleepy), 30)};
    try {
      when_all(mixed);
      ADD_FAILURE() << "when_all did not throw";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.task_id(), mixed[1].task_id());
    }
    // when_all waited for every future, also the slow one after the failure.
    EXPECT_TRUE(mixed[2].ready());

    std::vector<Future<void>> voids;
    const int before = g_side_effect.load();
    for (int i = 0; i < 10; ++i) {
      voids.push_back(spawn(SKEIN_FN(bump), 1));
    }
    when_all(voids);
    EXPECT_EQ(g_side_effect.load(), before + 10);
  });
}

TEST_P(RemoteSpawnTest, FutureInSelect) {
  run([] {
    Future<int> slow = spawn(SKEIN_FN(sleepy), 100);
    Future<int> fast = spawn(SKEIN_FN(sleepy), 1);
    Chan<int> never(0);
    int fired = select(recv(slow.done()), recv(fast.done()), recv(never));
    EXPECT_EQ(fired, 1);
    EXPECT_TRUE(fast.ready());
    EXPECT_EQ(fast.get(), 1);
    // A timer beats a future that is not ready.
    fired = select(recv(slow.done()), recv(after(5ms)));
    EXPECT_EQ(fired, slow.ready() ? 0 : 1);
    EXPECT_EQ(slow.get(), 100);
    // A ready future's channel stays ready (it is closed).
    EXPECT_EQ(select(recv(slow.done()), recv(never)), 0);
  });
}

TEST_P(RemoteSpawnTest, DeadlineFailsTheFutureWithoutWaitingForTheTask) {
  run([] {
    const std::uint64_t dup_before = detail::process_owner_table().counters().duplicates;
    const auto t0 = Clock::now();
    Future<int> f = spawn(SpawnOptions{.deadline = 30ms}, SKEIN_FN(sleepy), 300);
    try {
      f.get();
      ADD_FAILURE() << "get() did not throw";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.kind(), TaskError::kDeadlineExceeded);
      EXPECT_EQ(e.task_id(), f.task_id());
      EXPECT_NE(std::string(e.what()).find("deadline of 30 ms"), std::string::npos) << e.what();
    }
    const auto waited = Clock::now() - t0;
    EXPECT_GE(waited, 30ms);
    EXPECT_LT(waited, 250ms);
    // The task keeps running; its late completion is a duplicate and changes nothing.
    EXPECT_TRUE(wait_for_duplicates(dup_before + 1));
    EXPECT_THROW(f.get(), RemoteError);

    // A deadline that does not expire changes nothing either.
    EXPECT_EQ(spawn(SpawnOptions{.deadline = 10s}, SKEIN_FN(square), 4).get(), 16);
  });
}

TEST_P(RemoteSpawnTest, ExceptionsAreRetriedOnlyWhenAskedTo) {
  run([] {
    g_flaky_calls = 0;
    EXPECT_THROW(spawn(SKEIN_FN(flaky), 2).get(), RemoteError);
    EXPECT_EQ(g_flaky_calls.load(), 1);  // default: no retry of exceptions

    g_flaky_calls = 0;
    Future<int> f =
        spawn(SpawnOptions{.max_retries = 3, .retry_exceptions = true}, SKEIN_FN(flaky), 2);
    EXPECT_EQ(f.get(), 7);
    EXPECT_EQ(g_flaky_calls.load(), 3);

    g_flaky_calls = 0;
    try {
      spawn(SpawnOptions{.max_retries = 1, .retry_exceptions = true}, SKEIN_FN(flaky), 5).get();
      ADD_FAILURE() << "get() did not throw";
    } catch (const RemoteError& e) {
      EXPECT_EQ(e.attempt(), 2u);  // one retry, then the budget is spent
    }
    EXPECT_EQ(g_flaky_calls.load(), 2);
  });
}

TEST_P(RemoteSpawnTest, PlacementIsRecordedButLocal) {
  run([] {
    SpawnOptions o{.placement = Placement::pinned("node-7"),
                   .resources = Resources{.cpus = 2, .memory_bytes = 1 << 20, .labels = {"gpu"}}};
    EXPECT_EQ(o.placement.to_string(), "pinned(node-7)");
    EXPECT_EQ(spawn(o, SKEIN_FN(square), 5).get(), 25);
    EXPECT_EQ(spawn(SpawnOptions{.placement = Placement::spread()}, SKEIN_FN(square), 6).get(), 36);
  });
}

TEST_P(RemoteSpawnTest, NestedSpawnFromATask) {
  run([] { EXPECT_EQ(spawn(SKEIN_FN(sum_of_squares), 20).get(), 2870); });
}

TEST_P(RemoteSpawnTest, SpawnAndGetFromAPlainThread) {
  // spawn from a thread that is not a goroutine while the runtime runs: get()
  // blocks that thread (not a P) until the goroutine that runs the task ends.
  run([] {
    long got = 0;
    std::thread t([&] { got = spawn(SKEIN_FN(sum_of_squares), 10).get(); });
    // join blocks the OS thread: hand the P over meanwhile, or with one P
    // nothing could run the tasks.
    blocking([&] { t.join(); });
    EXPECT_EQ(got, 385);
  });
}

TEST_P(RemoteSpawnTest, SequentialRoundTrips) {
  run([] {
    const int n = 20'000 / testing::kScale;
    long sum = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      sum += spawn(SKEIN_FN(square), i % 100).get();
    }
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
    long want = 0;
    for (int i = 0; i < n; ++i) {
      want += static_cast<long>(i % 100) * (i % 100);
    }
    EXPECT_EQ(sum, want);
    std::printf("[ info ] local spawn + get round trip: %.0f ns\n", ns);
  });
}

SKEIN_INSTANTIATE_PROCS(RemoteSpawnTest);

}  // namespace
}  // namespace skein
