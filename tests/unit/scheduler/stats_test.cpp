#include <sys/resource.h>

#include <atomic>
#include <chrono>

#include "sched_fixture.hpp"

namespace skein {
namespace {

using namespace std::chrono_literals;

std::int64_t process_cpu_ns() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](timeval tv) { return tv.tv_sec * 1'000'000'000LL + tv.tv_usec * 1000LL; };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

TEST(Stats, CountsAreConsistent) {
  Runtime rt(Config{.procs = 2});
  rt.run([&] {
    constexpr int kParked = 100;
    constexpr int kShortLived = 1000;
    WaitGroup gate;
    gate.add(1);
    WaitGroup parked;
    parked.add(kParked);
    for (int i = 0; i < kParked; ++i) {
      go([&] {
        gate.wait();
        parked.done();
      });
    }
    WaitGroup shorts;
    shorts.add(kShortLived);
    for (int i = 0; i < kShortLived; ++i) {
      go([&] { shorts.done(); });
    }
    shorts.wait();
    // Let the parked ones reach gate.wait().
    while (rt.stats().blocked < kParked) {
      sleep_for(1ms);
    }
    SchedStats s = rt.stats();
    EXPECT_EQ(s.blocked, kParked);
    EXPECT_EQ(s.running, 1) << "only main runs";
    EXPECT_EQ(s.goroutines, kParked + 1);
    EXPECT_EQ(s.spawned, kParked + kShortLived + 1u);
    EXPECT_GE(s.finished, static_cast<std::uint64_t>(kShortLived));
    EXPECT_EQ(static_cast<std::int64_t>(s.spawned - s.finished), s.goroutines);
    EXPECT_GE(s.parks, static_cast<std::uint64_t>(kParked));
    EXPECT_GE(s.context_switches, s.spawned);
    EXPECT_EQ(s.procs, 2);
    EXPECT_EQ(s.local_runq.size(), 2u);
    EXPECT_GE(s.threads, 1);
    EXPECT_LE(s.threads, 3) << "Ms are reused, not created per goroutine";
    EXPECT_GT(s.stack_bytes_reserved, 0);
    EXPECT_GT(s.stack_bytes_resident, 0);
    EXPECT_LE(s.stack_bytes_resident, s.stack_bytes_reserved);
    std::string dump = rt.dump();
    EXPECT_NE(dump.find("[waiting, sync.WaitGroup.Wait"), std::string::npos) << dump;
    EXPECT_NE(dump.find("stats_test.cpp"), std::string::npos) << dump;
    gate.done();
    parked.wait();
  });
  SchedStats s = rt.stats();
  EXPECT_GE(s.unparks, 100u);
  EXPECT_NE(s.to_string().find("context_switches "), std::string::npos);
}

// An idle runtime must not burn CPU: all Ms park in the kernel, and a runtime
// whose goroutines all sleep waits for the earliest timer there too.
TEST(Idle, NoCpuWhileAllGoroutinesSleep) {
  Runtime rt(Config{.procs = 4});
  std::int64_t used = 0;
  rt.run([&] {
    // Warm up: start all Ms.
    WaitGroup wg;
    wg.add(100);
    for (int i = 0; i < 100; ++i) {
      go([&] { wg.done(); });
    }
    wg.wait();
    sleep_for(50ms);
    std::int64_t before = process_cpu_ns();
    sleep_for(1s);
    used = process_cpu_ns() - before;
  });
  EXPECT_LT(used, 20'000'000) << "process used " << used / 1000 << " us of CPU over 1 s idle";
}

TEST(Idle, NoCpuWhileRuntimeHasNothingToDo) {
  Runtime rt(Config{.procs = 4});
  rt.run([] {
    WaitGroup wg;
    wg.add(100);
    for (int i = 0; i < 100; ++i) {
      go([&] { wg.done(); });
    }
    wg.wait();
  });
  std::this_thread::sleep_for(20ms);
  std::int64_t before = process_cpu_ns();
  std::this_thread::sleep_for(1s);
  std::int64_t used = process_cpu_ns() - before;
  EXPECT_LT(used, 20'000'000) << "process used " << used / 1000 << " us of CPU over 1 s idle";
}

}  // namespace
}  // namespace skein
