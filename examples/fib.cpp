// fib: fork-join Fibonacci. fib(n) runs fib(n-1) in a new goroutine, computes
// fib(n-2) itself and joins the child with a WaitGroup, so fib(27) spawns
// about 318,000 goroutines. Usage: fib [N] (default 27).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <skein/skein.hpp>

namespace {
constexpr int kDefaultN = 27;
// fib(40) would spawn ~165 million goroutines: past that, the demo is a soak test.
constexpr int kMaxN = 40;

std::int64_t fib(int n) {
  if (n < 2) {
    return n;
  }
  skein::WaitGroup wg;
  std::int64_t a = 0;
  wg.add(1);
  skein::go([&wg, &a, n] {
    a = fib(n - 1);
    wg.done();
  });
  const std::int64_t b = fib(n - 2);
  wg.wait();  // parks this goroutine; the P runs the child meanwhile
  return a + b;
}

// The reference answer, computed without goroutines.
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
  return skein::run(argc, argv, [n]() -> int {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t result = fib(n);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    std::printf("fib(%d) = %lld in %.1f ms\n", n, static_cast<long long>(result),
                std::chrono::duration<double, std::milli>(elapsed).count());
    std::printf("-- scheduler stats --\n%s", skein::current_runtime()->stats().to_string().c_str());
    if (result != fib_seq(n)) {
      std::fprintf(stderr, "wrong result: expected %lld\n", static_cast<long long>(fib_seq(n)));
      return 1;
    }
    return 0;
  });
}
