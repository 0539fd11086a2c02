// LatencySummary: median / p99 / min / mean of a sample of round-trip times, the one
// way every latency figure of the distributed-execution benchmark is reduced
// (bench/grpc/echo_client.cpp, bench/cluster/remote_tasks.cpp), so both sides
// of a ratio are computed alike. Percentiles are nearest-rank, as in
// bench/erlang/remote_spawn.erl.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace skein::bench {

struct LatencySummary {
  std::size_t count = 0;
  double median_us = 0;
  double p99_us = 0;
  double min_us = 0;
  double mean_us = 0;  // calls per second = 1e6 / mean_us, for per-call CPU accounting
};

// Nearest-rank percentile p (0 < p <= 1) of sorted nanoseconds, in microseconds.
inline double percentile_us(const std::vector<std::int64_t>& sorted_ns, double p) {
  const auto n = static_cast<double>(sorted_ns.size());
  std::size_t rank = static_cast<std::size_t>(std::llround(p * n + 0.5));
  rank = std::clamp<std::size_t>(rank, 1, sorted_ns.size());
  return static_cast<double>(sorted_ns[rank - 1]) / 1e3;
}

// Sorts samples_ns. An empty sample gives an all-zero summary.
inline LatencySummary summarize(std::vector<std::int64_t>& samples_ns) {
  LatencySummary s;
  s.count = samples_ns.size();
  if (samples_ns.empty()) {
    return s;
  }
  std::sort(samples_ns.begin(), samples_ns.end());
  s.median_us = percentile_us(samples_ns, 0.5);
  s.p99_us = percentile_us(samples_ns, 0.99);
  s.min_us = static_cast<double>(samples_ns.front()) / 1e3;
  double total_ns = 0;
  for (std::int64_t ns : samples_ns) {
    total_ns += static_cast<double>(ns);
  }
  s.mean_us = total_ns / static_cast<double>(samples_ns.size()) / 1e3;
  return s;
}

}  // namespace skein::bench
