// W6 parked goroutines: 100,000 goroutines park on one WaitGroup; the resident
// memory they add (RSS once they are all parked minus RSS before) divided by
// their number is the memory cost of a parked goroutine. Go twin:
// bench/go/w6_parked.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "bench_result.hpp"
#include "skein/sched.hpp"

namespace {
constexpr std::int64_t kGoroutines = 100'000;
constexpr const char* kName = "w6_parked";
// parked.done() comes just before gate.wait(): the last few goroutines need a
// moment to reach their park before RSS is sampled. The Go twin sleeps the same.
constexpr auto kSettle = std::chrono::milliseconds(10);
}  // namespace

int main() {
  skein::Runtime rt;  // Config::from_env(): SKEIN_PROCS sets the P count
  std::atomic<std::int64_t> sum{0};
  std::int64_t ns = 0;
  std::int64_t before = 0;
  std::int64_t after = 0;
  std::int64_t blocked_at_sample = 0;
  std::int64_t stack_resident_at_sample = 0;
  rt.run([&] {
    skein::WaitGroup parked;
    skein::WaitGroup gate;
    skein::WaitGroup finished;
    gate.add(1);
    before = skein::bench::rss_bytes();
    const std::int64_t start = skein::bench::now_ns();
    for (std::int64_t i = 1; i <= kGoroutines; ++i) {
      parked.add(1);
      finished.add(1);
      skein::go([&, i] {
        parked.done();
        gate.wait();  // parks here until main opens the gate
        sum.fetch_add(i, std::memory_order_relaxed);
        finished.done();
      });
    }
    parked.wait();
    skein::sleep_for(kSettle);
    after = skein::bench::rss_bytes();
    // The snapshot walks every stack slab with mincore: keep its cost out of
    // the timed region, which the Go twin does not pay.
    const std::int64_t stats_start = skein::bench::now_ns();
    const skein::SchedStats s = skein::current_runtime()->stats();
    const std::int64_t stats_ns = skein::bench::now_ns() - stats_start;
    blocked_at_sample = s.blocked;
    stack_resident_at_sample = s.stack_bytes_resident;
    gate.done();
    finished.wait();
    ns = skein::bench::now_ns() - start - stats_ns;
  });
  skein::bench::check_eq(kName, "sum", sum.load(), kGoroutines * (kGoroutines + 1) / 2);
  const skein::SchedStats stats = rt.stats();
  if (skein::bench::want_stats()) {
    std::fprintf(stderr, "%s", stats.to_string().c_str());
  }
  skein::bench::print_result(kName, ns,
                             {{"ops", kGoroutines},
                              {"bytes_per_g", (after - before) / kGoroutines},
                              {"rss_before", before},
                              {"rss_parked", after},
                              {"blocked_at_sample", blocked_at_sample},
                              {"stack_resident_at_sample", stack_resident_at_sample},
                              {"procs", stats.procs}});
  return 0;
}
