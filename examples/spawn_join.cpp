// spawn_join: starts 1,000,000 goroutines (or argv[1]), each adds its number to
// a shared total, joins them with a WaitGroup, then prints the total and the
// scheduler's stats. Run it with SKEIN_PROCS=N to choose the processor count.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <skein/skein.hpp>

namespace {
constexpr std::int64_t kDefaultGoroutines = 1'000'000;
}  // namespace

int main(int argc, char** argv) {
  std::int64_t n = kDefaultGoroutines;
  if (argc > 1) {
    char* end = nullptr;
    n = std::strtoll(argv[1], &end, 10);
    if (*end != '\0' || n < 0) {
      std::fprintf(stderr, "usage: %s [goroutines]\n", argv[0]);
      return 2;
    }
  }
  return skein::run(argc, argv, [n]() -> int {
    std::atomic<std::int64_t> sum{0};
    skein::WaitGroup wg;
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 1; i <= n; ++i) {
      wg.add(1);
      skein::go([&sum, &wg, i] {
        sum.fetch_add(i, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const double ms = std::chrono::duration<double, std::milli>(elapsed).count();

    const std::int64_t want = n * (n + 1) / 2;
    std::printf("spawned and joined %lld goroutines in %.1f ms (%.0f ns each)\n",
                static_cast<long long>(n), ms, n > 0 ? ms * 1e6 / static_cast<double>(n) : 0.0);
    std::printf("sum = %lld (expected %lld)\n", static_cast<long long>(sum.load()),
                static_cast<long long>(want));
    std::printf("-- scheduler stats --\n%s", skein::current_runtime()->stats().to_string().c_str());
    return sum.load() == want ? 0 : 1;
  });
}
