// W3 ping-pong: 1,000,000 round trips between two goroutines over two
// unbuffered channels; each trip carries a value the echoer increments.
// Go twin: bench/go/w3_pingpong.
#include <cstdint>
#include <cstdio>

#include "bench_result.hpp"
#include "skein/sched.hpp"

namespace {
constexpr std::int64_t kRoundTrips = 1'000'000;
constexpr const char* kName = "w3_pingpong";
}  // namespace

int main() {
  skein::Runtime rt;
  std::int64_t sum = 0;
  std::int64_t ns = 0;
  rt.run([&] {
    skein::Chan<std::int64_t> ping(0);
    skein::Chan<std::int64_t> pong(0);
    skein::go([ping, pong] {
      for (std::int64_t v : ping) {
        pong.send(v + 1);
      }
      pong.close();
    });
    const std::int64_t start = skein::bench::now_ns();
    for (std::int64_t i = 0; i < kRoundTrips; ++i) {
      ping.send(i);
      sum += *pong.recv();
    }
    ns = skein::bench::now_ns() - start;
    ping.close();
    (void)pong.recv();
  });
  // sum of (i + 1) for i in [0, n) = n(n+1)/2
  skein::bench::check_eq(kName, "sum", sum, kRoundTrips * (kRoundTrips + 1) / 2);
  const skein::SchedStats stats = rt.stats();
  if (skein::bench::want_stats()) {
    std::fprintf(stderr, "%s", stats.to_string().c_str());
  }
  skein::bench::print_result(kName, ns, {{"ops", kRoundTrips}, {"procs", stats.procs}});
  return 0;
}
