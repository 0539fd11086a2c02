// merge_sort: sorts 10,000,000 integers with remote tasks. The driver
// generates deterministic pseudo-random ints, sorts chunks in remote tasks,
// then merges pairs of sorted runs level by level until one run is left. It
// checks that the result is sorted, has every element, and has the same
// order-independent checksum as the input.
//
// A task's arguments are bounded (3 MiB: one task travels in one message), so
// no task ever gets more than kMaxTaskInts values: chunks are at most that
// big, and merging two long runs is itself split (the parallel "merge path"):
// the output is cut into pieces of kMaxTaskInts, the co-rank search finds
// which slices of the two runs make up each piece, and each piece is merged
// by its own task. Concatenated in order, the pieces are the merged run.
// Usage: merge_sort [--n N] [--chunks C]   (defaults 10000000, 16; C is raised
// to at least N / kMaxTaskInts).
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

// 256 Ki ints: 1 MiB of arguments per task.
constexpr std::size_t kMaxTaskInts = std::size_t{256} << 10;

// The co-rank of output position d in merge(a, b): the i such that the first
// d outputs are a[0, i) and b[0, d - i). Ties take from a first, as std::merge.
std::size_t co_rank(std::size_t d, const Run& a, const Run& b) {
  std::size_t lo = d > b.size() ? d - b.size() : 0;
  std::size_t hi = std::min(d, a.size());
  while (lo < hi) {
    const std::size_t i = lo + (hi - lo) / 2;
    // Too few from a if a[i] still precedes b[d - i - 1].
    if (a[i] <= b[d - i - 1]) {
      lo = i + 1;
    } else {
      hi = i;
    }
  }
  return lo;
}

// Merges two sorted runs with remote tasks of at most kMaxTaskInts outputs.
std::vector<skein::Future<Run>> spawn_merge(const Run& a, const Run& b) {
  const std::size_t total = a.size() + b.size();
  const std::size_t pieces = std::max<std::size_t>(1, (total + kMaxTaskInts - 1) / kMaxTaskInts);
  std::vector<skein::Future<Run>> parts;
  std::size_t d0 = 0;
  std::size_t i0 = 0;
  for (std::size_t k = 1; k <= pieces; ++k) {
    const std::size_t d1 = total * k / pieces;
    const std::size_t i1 = co_rank(d1, a, b);
    parts.push_back(skein::spawn(SKEIN_FN(merge_runs), Run(a.begin() + i0, a.begin() + i1),
                                 Run(b.begin() + (d0 - i0), b.begin() + (d1 - i1))));
    d0 = d1;
    i0 = i1;
  }
  return parts;
}

// The pieces of a merge, concatenated in order.
Run gather(std::vector<skein::Future<Run>>& parts) {
  Run out;
  for (auto& p : parts) {
    Run piece = p.get();
    out.insert(out.end(), piece.begin(), piece.end());
  }
  return out;
}

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
  chunks = std::max<std::uint64_t>(chunks, (n + kMaxTaskInts - 1) / kMaxTaskInts);
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
    std::vector<skein::Future<Run>> sorting;
    for (std::uint64_t c = 0; c < chunks; ++c) {
      const std::uint64_t lo = n * c / chunks;
      const std::uint64_t hi = n * (c + 1) / chunks;
      sorting.push_back(
          skein::spawn(SKEIN_FN(sort_chunk), Run(input.begin() + lo, input.begin() + hi)));
    }
    input = Run();  // the tasks hold their own copies
    std::vector<Run> level;
    for (auto& f : sorting) {
      level.push_back(f.get());
    }
    while (level.size() > 1) {
      // Every merge of this level is in flight before the first is gathered.
      std::vector<std::vector<skein::Future<Run>>> merging;
      for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
        merging.push_back(spawn_merge(level[i], level[i + 1]));
      }
      std::vector<Run> next;
      for (auto& parts : merging) {
        next.push_back(gather(parts));
      }
      if (level.size() % 2 == 1) {
        next.push_back(std::move(level.back()));
      }
      level = std::move(next);
    }
    const Run sorted = std::move(level.front());
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
