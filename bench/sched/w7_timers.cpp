// W7 timers: 100,000 goroutines each sleep 10 ms, then are joined. Reports the
// shortest and longest sleep observed; a sleep shorter than 10 ms is a failure.
// Go twin: bench/go/w7_timers.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "bench_result.hpp"
#include "skein/sched.hpp"

namespace {
constexpr std::int64_t kGoroutines = 100'000;
constexpr auto kSleep = std::chrono::milliseconds(10);
constexpr const char* kName = "w7_timers";

void record_min(std::atomic<std::int64_t>& v, std::int64_t d) {
  std::int64_t cur = v.load(std::memory_order_relaxed);
  while (d < cur && !v.compare_exchange_weak(cur, d, std::memory_order_relaxed)) {
  }
}
void record_max(std::atomic<std::int64_t>& v, std::int64_t d) {
  std::int64_t cur = v.load(std::memory_order_relaxed);
  while (d > cur && !v.compare_exchange_weak(cur, d, std::memory_order_relaxed)) {
  }
}
}  // namespace

int main() {
  skein::Runtime rt;
  std::atomic<std::int64_t> min_sleep{INT64_MAX};
  std::atomic<std::int64_t> max_sleep{0};
  std::int64_t ns = 0;
  rt.run([&] {
    skein::WaitGroup wg;
    const std::int64_t start = skein::bench::now_ns();
    for (std::int64_t i = 0; i < kGoroutines; ++i) {
      wg.add(1);
      skein::go([&] {
        const std::int64_t t0 = skein::bench::now_ns();
        skein::sleep_for(kSleep);
        const std::int64_t d = skein::bench::now_ns() - t0;
        record_min(min_sleep, d);
        record_max(max_sleep, d);
        wg.done();
      });
    }
    wg.wait();
    ns = skein::bench::now_ns() - start;
  });
  const std::int64_t want = std::chrono::nanoseconds(kSleep).count();
  if (min_sleep.load() < want) {
    std::fprintf(stderr, "%s: a sleep lasted %lld ns, less than %lld ns\n", kName,
                 static_cast<long long>(min_sleep.load()), static_cast<long long>(want));
    return 1;
  }
  const skein::SchedStats stats = rt.stats();
  if (skein::bench::want_stats()) {
    std::fprintf(stderr, "%s", stats.to_string().c_str());
  }
  skein::bench::print_result(kName, ns,
                             {{"ops", kGoroutines},
                              {"min_sleep_ns", min_sleep.load()},
                              {"max_sleep_ns", max_sleep.load()},
                              {"procs", stats.procs}});
  return 0;
}
