// W5 fork-join fib(N) (default 27): every call with n >= 2 runs fib(n-1) in a
// new goroutine, computes fib(n-2) inline and joins the child through a
// WaitGroup. Go twin: bench/go/w5_fib.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_result.hpp"
#include "skein/sched.hpp"

namespace {
constexpr const char* kName = "w5_fib";
constexpr int kDefaultN = 27;
constexpr int kMaxN = 40;

std::atomic<std::int64_t> g_spawned{0};

std::int64_t fib(int n) {
  if (n < 2) {
    return n;
  }
  skein::WaitGroup wg;
  std::int64_t a = 0;
  wg.add(1);
  g_spawned.fetch_add(1, std::memory_order_relaxed);
  skein::go([&wg, &a, n] {
    a = fib(n - 1);
    wg.done();
  });
  const std::int64_t b = fib(n - 2);
  wg.wait();
  return a + b;
}

// The reference result, computed without goroutines.
std::int64_t fib_seq(int n) {
  std::int64_t a = 0;
  std::int64_t b = 1;
  for (int i = 0; i < n; ++i) {
    const std::int64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}
}  // namespace

int main(int argc, char** argv) {
  int n = kDefaultN;
  if (argc > 1) {
    char* end = nullptr;
    const long v = std::strtol(argv[1], &end, 10);
    if (*end != '\0' || v < 0 || v > kMaxN) {
      std::fprintf(stderr, "usage: %s [N in 0..%d]\n", argv[0], kMaxN);
      return 2;
    }
    n = static_cast<int>(v);
  }
  skein::Runtime rt;  // Config::from_env(): SKEIN_PROCS sets the P count
  std::int64_t got = 0;
  std::int64_t ns = 0;
  rt.run([&] {
    const std::int64_t start = skein::bench::now_ns();
    got = fib(n);
    ns = skein::bench::now_ns() - start;
  });
  skein::bench::check_eq(kName, "fib", got, fib_seq(n));
  const skein::SchedStats stats = rt.stats();
  if (skein::bench::want_stats()) {
    std::fprintf(stderr, "%s", stats.to_string().c_str());
  }
  skein::bench::print_result(
      kName, ns, {{"ops", g_spawned.load()}, {"n", n}, {"fib", got}, {"procs", stats.procs}});
  return 0;
}
