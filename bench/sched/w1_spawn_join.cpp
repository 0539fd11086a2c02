// W1 spawn+join: 1,000,000 goroutines, each adds its index to a shared counter
// atomically, joined by one WaitGroup. Go twin: bench/go/w1_spawn_join.
#include <atomic>
#include <cstdint>
#include <cstdio>

#include "bench_result.hpp"
#include "skein/sched.hpp"

namespace {
constexpr std::int64_t kGoroutines = 1'000'000;
constexpr const char* kName = "w1_spawn_join";
}  // namespace

int main() {
  skein::Runtime rt;  // Config::from_env(): SKEIN_PROCS sets the P count
  std::atomic<std::int64_t> sum{0};
  std::int64_t ns = 0;
  rt.run([&] {
    skein::WaitGroup wg;
    const std::int64_t start = skein::bench::now_ns();
    for (std::int64_t i = 1; i <= kGoroutines; ++i) {
      wg.add(1);
      skein::go([&wg, &sum, i] {
        sum.fetch_add(i, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    ns = skein::bench::now_ns() - start;
  });
  skein::bench::check_eq(kName, "sum", sum.load(), kGoroutines * (kGoroutines + 1) / 2);
  const skein::SchedStats stats = rt.stats();
  if (skein::bench::want_stats()) {
    std::fprintf(stderr, "%s", stats.to_string().c_str());
  }
  skein::bench::print_result(kName, ns, {{"ops", kGoroutines}, {"procs", stats.procs}});
  return 0;
}
