// pi_monte_carlo: estimates pi by throwing N random points at the unit square
// and counting those inside the quarter circle. The samples are split into
// remote tasks, each with its own deterministic seed (so a run is
// reproducible wherever its tasks land), and the driver adds up the counts.
// Usage: pi_monte_carlo [--samples N] [--tasks T]   (defaults 40000000, 80).
// Exits 1 unless |estimate - 3.14159| < 0.01.
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <skein/skein.hpp>
#include <skein/spawn.hpp>
#include "example_flags.hpp"

namespace {

// SplitMix64: a small, fast generator; seeds of neighbouring tasks give
// unrelated streams.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

// One remote task: how many of `samples` points fall inside the circle.
std::uint64_t count_inside(std::uint64_t seed, std::uint64_t samples) {
  SplitMix64 rng{seed};
  std::uint64_t inside = 0;
  for (std::uint64_t i = 0; i < samples; ++i) {
    const double x = rng.unit();
    const double y = rng.unit();
    inside += (x * x + y * y < 1.0) ? 1 : 0;
  }
  return inside;
}
SKEIN_REMOTE(count_inside);

}  // namespace

using skein_examples::parse_flag;

int main(int argc, char** argv) {
  std::uint64_t samples = 40'000'000;
  std::uint64_t tasks = 80;
  for (int i = 1; i < argc; ++i) {
    if (!parse_flag(argc, argv, i, "--samples", samples) &&
        !parse_flag(argc, argv, i, "--tasks", tasks)) {
      std::fprintf(stderr, "usage: %s [--samples N] [--tasks T]\n", argv[0]);
      return 2;
    }
  }
  if (tasks > samples) {
    tasks = samples;
  }
  return skein::run(argc, argv, [samples, tasks]() -> int {
    const auto start = std::chrono::steady_clock::now();
    std::vector<skein::Future<std::uint64_t>> counts;
    counts.reserve(tasks);
    for (std::uint64_t t = 0; t < tasks; ++t) {
      // The first samples % tasks tasks take one sample more.
      const std::uint64_t n = samples / tasks + (t < samples % tasks ? 1 : 0);
      counts.push_back(skein::spawn(SKEIN_FN(count_inside), 0x5EED0000ull + t, n));
    }
    std::uint64_t inside = 0;
    for (std::uint64_t c : skein::when_all(counts)) {
      inside += c;
    }
    const double pi = 4.0 * static_cast<double>(inside) / static_cast<double>(samples);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const bool ok = std::fabs(pi - 3.14159) < 0.01;
    std::printf("pi_monte_carlo: %" PRIu64 " samples in %" PRIu64
                " remote tasks: pi ~ %.6f (|error| %.6f) in %.1f ms%s\n",
                samples, tasks, pi, std::fabs(pi - M_PI), ms, ok ? "" : "  WRONG RESULT");
    return ok ? 0 : 1;
  });
}
