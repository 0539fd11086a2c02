// Micro-benchmarks of the scheduler's hot paths (Google Benchmark):
//   BM_SpawnJoin        go() one goroutine and wait for it on a WaitGroup
//   BM_YieldSwitch      two goroutines on one P trading the M with yield();
//                       ns_per_switch is the cost of one G -> G switch
//   BM_MutexUncontended lock + unlock of a Mutex nobody else wants
//   BM_MutexContended   N goroutines sharing one Mutex (arg = N)
//
// Each benchmark builds its own Runtime and runs the timed loop inside
// rt.run(), so the loop itself is the main goroutine. Timing is wall clock
// (UseRealTime): the main goroutine may move between OS threads, so the
// calling thread's CPU time would not mean anything.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "skein/sched.hpp"

namespace {

// Each contended goroutine takes the lock this many times per iteration, so
// one iteration is long enough for the goroutines to actually overlap.
constexpr int kLocksPerGoroutine = 1000;

void BM_SpawnJoin(benchmark::State& state) {
  skein::Runtime rt;  // SKEIN_PROCS or all hardware threads
  rt.run([&] {
    std::int64_t ran = 0;
    for (auto _ : state) {
      skein::WaitGroup wg;
      wg.add(1);
      skein::go([&] {
        ++ran;
        wg.done();
      });
      wg.wait();
    }
    benchmark::DoNotOptimize(ran);
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SpawnJoin)->UseRealTime();

void BM_YieldSwitch(benchmark::State& state) {
  skein::Runtime rt(skein::Config{.procs = 1});
  rt.run([&] {
    std::atomic<bool> stop{false};
    skein::WaitGroup wg;
    wg.add(1);
    skein::go([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        skein::yield();
      }
      wg.done();
    });
    // Let the partner start so every timed yield switches to it.
    skein::yield();
    for (auto _ : state) {
      skein::yield();  // main -> partner -> main: two switches
    }
    stop.store(true, std::memory_order_relaxed);
    wg.wait();
  });
  state.counters["ns_per_switch"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 2,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_YieldSwitch)->UseRealTime();

void BM_MutexUncontended(benchmark::State& state) {
  skein::Runtime rt;
  rt.run([&] {
    skein::Mutex mu;
    std::int64_t counter = 0;
    for (auto _ : state) {
      std::lock_guard lock(mu);
      ++counter;
    }
    benchmark::DoNotOptimize(counter);
  });
}
BENCHMARK(BM_MutexUncontended)->UseRealTime();

void BM_MutexContended(benchmark::State& state) {
  const int goroutines = static_cast<int>(state.range(0));
  skein::Runtime rt;
  std::int64_t counter = 0;
  rt.run([&] {
    skein::Mutex mu;
    for (auto _ : state) {
      skein::WaitGroup wg;
      wg.add(goroutines);
      for (int g = 0; g < goroutines; ++g) {
        skein::go([&] {
          for (int i = 0; i < kLocksPerGoroutine; ++i) {
            std::lock_guard lock(mu);
            ++counter;
          }
          wg.done();
        });
      }
      wg.wait();
    }
  });
  const std::int64_t want =
      static_cast<std::int64_t>(state.iterations()) * goroutines * kLocksPerGoroutine;
  if (counter != want) {
    state.SkipWithError("Mutex lost an update");
  }
  state.SetItemsProcessed(want);
  state.counters["ns_per_lock"] = benchmark::Counter(
      static_cast<double>(want), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_MutexContended)->Arg(2)->Arg(4)->Arg(16)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
