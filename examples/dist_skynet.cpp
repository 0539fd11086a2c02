// dist_skynet: the skynet benchmark spread over a cluster. A tree of
// 1,000,000 leaves (leaf i contributes i) is cut into remote tasks of
// `leaves / tasks` leaves each; every task computes its subtree with local
// goroutines and channels (each inner node starts 10 children and sums what
// they send on a channel), and the driver sums the tasks' futures. Tasks are
// placed with Placement::spread(), round-robin over the cluster's nodes, and
// each reports the node it ran on, so the output shows the spread.
// Usage: dist_skynet [--leaves N] [--tasks T]   (defaults 1000000 and 100;
// leaves / tasks must be a power of 10 and T must divide N). Exits 1 if the
// sum differs from N (N - 1) / 2.
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <skein/skein.hpp>
#include <skein/spawn.hpp>

namespace {

// Sums leaves [base, base + size) as a skynet subtree: size is a power of
// 10; each inner node has 10 children, each a goroutine that sends its sum.
std::int64_t skynet_local(std::int64_t base, std::int64_t size) {
  if (size == 1) {
    return base;
  }
  const std::int64_t child = size / 10;
  skein::Chan<std::int64_t> sums(10);
  for (int i = 0; i < 10; ++i) {
    skein::go([sums, base, child, i] { sums.send(skynet_local(base + i * child, child)); });
  }
  std::int64_t total = 0;
  for (int i = 0; i < 10; ++i) {
    total += *sums.recv();
  }
  return total;
}

// One remote task: a whole subtree; returns its sum and the node it ran on
// ("local" when the program runs outside a cluster).
std::pair<std::int64_t, std::string> skynet_subtree(std::int64_t base, std::int64_t size) {
  return {skynet_local(base, size), skein::cluster::node_id()};
}
SKEIN_REMOTE(skynet_subtree);

bool is_power_of_10(std::int64_t v) {
  while (v > 1 && v % 10 == 0) {
    v /= 10;
  }
  return v == 1;
}

bool parse_flag(int argc, char** argv, int& i, const char* name, std::int64_t& out) {
  if (std::strcmp(argv[i], name) != 0 || i + 1 >= argc) {
    return false;
  }
  char* end = nullptr;
  out = std::strtoll(argv[++i], &end, 10);
  return *end == '\0' && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t leaves = 1'000'000;
  std::int64_t tasks = 100;
  for (int i = 1; i < argc; ++i) {
    if (!parse_flag(argc, argv, i, "--leaves", leaves) &&
        !parse_flag(argc, argv, i, "--tasks", tasks)) {
      std::fprintf(stderr, "usage: %s [--leaves N] [--tasks T]\n", argv[0]);
      return 2;
    }
  }
  if (leaves % tasks != 0 || !is_power_of_10(leaves / tasks)) {
    std::fprintf(stderr, "dist_skynet: leaves / tasks must be a whole power of 10\n");
    return 2;
  }
  return skein::run(argc, argv, [leaves, tasks]() -> int {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t per_task = leaves / tasks;
    const skein::SpawnOptions spread{.placement = skein::Placement::spread()};
    std::vector<skein::Future<std::pair<std::int64_t, std::string>>> parts;
    parts.reserve(static_cast<std::size_t>(tasks));
    for (std::int64_t t = 0; t < tasks; ++t) {
      parts.push_back(skein::spawn(spread, SKEIN_FN(skynet_subtree), t * per_task, per_task));
    }
    std::int64_t sum = 0;
    std::map<std::string, int> per_node;
    for (auto& [v, node] : skein::when_all(parts)) {
      sum += v;
      ++per_node[node];
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const std::int64_t want = leaves * (leaves - 1) / 2;
    std::printf("dist_skynet: %" PRId64 " leaves in %" PRId64 " remote tasks: sum %" PRId64
                " (expected %" PRId64 ") in %.1f ms\n",
                leaves, tasks, sum, want, ms);
    std::printf("dist_skynet: tasks per node:");
    for (const auto& [node, n] : per_node) {
      std::printf(" %s=%d", node.c_str(), n);
    }
    std::printf("\n");
    if (sum != want) {
      std::printf("dist_skynet: WRONG RESULT\n");
      return 1;
    }
    return 0;
  });
}
