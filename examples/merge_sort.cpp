// merge_sort: sorts 10,000,000 integers with remote tasks. The driver
// generates deterministic pseudo-random ints, sorts chunks in remote tasks,
// then merges pairs of sorted runs in remote tasks, level by level, until one
// run is left. It checks that the result is sorted, has every element, and
// has the same order-independent checksum as the input.
// Usage: merge_sort [--n N] [--chunks C]   (defaults 10000000, 16).
// Exits 1 if the output is not a sorted permutation of the input.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <skein/skein.hpp>
#include <skein/spawn.hpp>
#include "example_flags.hpp"

namespace {

using Run = std::vector<std::int32_t>;

Run sort_chunk(Run v) {
  std::sort(v.begin(), v.end());
  return v;
}
Run merge_runs(const Run& a, const Run& b) {
  Run out(a.size() + b.size());
  std::merge(a.begin(), a.end(), b.begin(), b.end(), out.begin());
  return out;
}
SKEIN_REMOTE(sort_chunk);
SKEIN_REMOTE(merge_runs);

// Order-independent: a sum of a mixing function of each value (mod 2^64).
std::uint64_t checksum(const Run& v) {
  std::uint64_t s = 0;
  for (std::int32_t x : v) {
    std::uint64_t z = static_cast<std::uint32_t>(x) * 0x9E3779B97F4A7C15ull;
    z ^= z >> 29;
    s += z;
  }
  return s;
}

}  // namespace

using skein_examples::parse_flag;

int main(int argc, char** argv) {
  std::uint64_t n = 10'000'000;
  std::uint64_t chunks = 16;
  for (int i = 1; i < argc; ++i) {
    if (!parse_flag(argc, argv, i, "--n", n) && !parse_flag(argc, argv, i, "--chunks", chunks)) {
      std::fprintf(stderr, "usage: %s [--n N] [--chunks C]\n", argv[0]);
      return 2;
    }
  }
  chunks = std::min(chunks, n);
  return skein::run(argc, argv, [n, chunks]() -> int {
    Run input(n);
    std::uint64_t state = 0x2545F4914F6CDD1Dull;
    for (auto& x : input) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      x = static_cast<std::int32_t>(state >> 32);
    }
    const std::uint64_t want_sum = checksum(input);

    const auto start = std::chrono::steady_clock::now();
    std::vector<skein::Future<Run>> level;
    for (std::uint64_t c = 0; c < chunks; ++c) {
      const std::uint64_t lo = n * c / chunks;
      const std::uint64_t hi = n * (c + 1) / chunks;
      level.push_back(
          skein::spawn(SKEIN_FN(sort_chunk), Run(input.begin() + lo, input.begin() + hi)));
    }
    input = Run();  // the tasks hold their own copies
    while (level.size() > 1) {
      std::vector<skein::Future<Run>> next;
      for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
        next.push_back(skein::spawn(SKEIN_FN(merge_runs), level[i].get(), level[i + 1].get()));
      }
      if (level.size() % 2 == 1) {
        next.push_back(level.back());
      }
      level = std::move(next);
    }
    const Run sorted = level.front().get();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    const bool is_sorted = std::is_sorted(sorted.begin(), sorted.end());
    const bool complete = sorted.size() == n;
    const bool same = checksum(sorted) == want_sum;
    std::printf(
        "merge_sort: %zu ints, %llu chunks, sorted remotely in %.1f ms: sorted=%s "
        "count=%s checksum=%s\n",
        sorted.size(), static_cast<unsigned long long>(chunks), ms, is_sorted ? "yes" : "NO",
        complete ? "ok" : "WRONG", same ? "ok" : "WRONG");
    return is_sorted && complete && same ? 0 : 1;
  });
}
