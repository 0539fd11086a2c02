// remote_wg_job: the job binary of remote_wg_test.cpp (issue #5: DistWaitGroup
// add/done from goroutines on any node, counted at its owner). It checks its
// own results and prints one "RESULT ..." line, exiting 0 only if they held.
//
//   remote_wg_job done N PAIRS SLEEP_MS
//     The driver makes a group, adds N on it, then spawns N tasks spread over
//     the nodes, each given the group as an argument. Each task sleeps
//     SLEEP_MS, calls add(1)+done() PAIRS times, checks that its handle is a
//     remote one whose wait() is refused, then calls done(). The driver checks
//     that wait_for(SLEEP_MS / 4) does not return early (the count is held by
//     the tasks, not by their completions), that wait() then returns with the
//     count at zero, and reports where the tasks ran.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "skein/skein.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Returns "<node> <remote|local> <refused|waited>".
std::string finish(skein::DistWaitGroup wg, int pairs, int sleep_ms) {
  skein::sleep_for(std::chrono::milliseconds(sleep_ms));
  for (int i = 0; i < pairs; ++i) {
    wg.add(1);
    wg.done();
  }
  std::string wait = "waited";
  if (!wg.is_local()) {
    try {
      wg.wait();
    } catch (const std::logic_error&) {
      wait = "refused";
    }
  }
  const std::string report =
      skein::cluster::node_id() + (wg.is_local() ? " local " : " remote ") + wait;
  wg.done();
  return report;
}
SKEIN_REMOTE(finish);

int done_mode(long n, int pairs, int sleep_ms) {
  const auto t0 = Clock::now();
  skein::DistWaitGroup wg;
  wg.add(n);  // before the spawns: the add each done balances happens first
  const skein::SpawnOptions spread{.placement = skein::Placement::spread()};
  std::vector<skein::Future<std::string>> futures;
  futures.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    futures.push_back(skein::spawn(spread, SKEIN_FN(finish), wg, pairs, sleep_ms));
  }
  // The tasks sleep before their done(): an early return means the count was
  // not held by them.
  if (wg.wait_for(std::chrono::milliseconds(sleep_ms / 4))) {
    std::printf("RESULT wgdone EARLY count=%" PRId64 "\n", wg.count());
    return 1;
  }
  if (!wg.wait_for(60s)) {
    std::printf("RESULT wgdone TIMEOUT count=%" PRId64 "\n", wg.count());
    return 1;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  std::map<std::string, int> per_node;
  int remote = 0;
  int refused = 0;
  for (auto& f : futures) {
    const std::string r = f.get();
    per_node[r.substr(0, r.find(' '))]++;
    remote += r.find(" remote ") != std::string::npos ? 1 : 0;
    refused += r.find(" refused") != std::string::npos ? 1 : 0;
  }
  const bool ok = wg.count() == 0 && remote == n && refused == n;
  std::printf("RESULT wgdone %s %ld count=%" PRId64 " remote=%d refused=%d in %lld ms nodes",
              ok ? "ok" : "BAD", n, wg.count(), remote, refused,
              static_cast<long long>(ms.count()));
  for (const auto& [node, count] : per_node) {
    std::printf(" %s=%d", node.c_str(), count);
  }
  std::printf("\n");
  return ok ? 0 : 1;
}

int run_mode(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "done" && argc == 5) {
    return done_mode(std::strtol(argv[2], nullptr, 10), std::atoi(argv[3]), std::atoi(argv[4]));
  }
  std::fprintf(stderr, "usage: remote_wg_job done N PAIRS SLEEP_MS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  return skein::run(argc, argv, [argc, argv]() -> int { return run_mode(argc, argv); });
}
