// remote_tasks: the Skein job of the distributed-execution benchmark (issue 5),
// submitted by bench/cluster/remote_bench.sh; the same work as
// bench/erlang/remote_spawn.erl.
//
// Every task runs tiny(x) = x + 1 (or nap(ms) for the memory mode), pinned to
// the node given by --target, which must not be the node the driver runs on:
// the figures are for spawning onto ANOTHER node. Measured by this process
// with the steady clock:
//   throughput  TASKS spawns with skein::spawn(wg, ...) as fast as the main
//               goroutine can issue them, then wg.wait(): time from the first
//               spawn to the wait's return. One warm-up round, then ROUNDS
//               rounds; the median is reported.
//   latency     CALLS sequential round trips skein::spawn(tiny, i).get(),
//               after WARMUP unmeasured ones; median and p99.
//   inflight    TASKS nap(HOLD_MS) tasks spawned at once, so that all of them
//               are in flight at the coordinator together: this mode raises
//               the owner's window (SKEIN_TASK_WINDOW, the cluster transport's
//               benchmark knob, default 16,384 first attempts in flight) to
//               TASKS unless --window says otherwise; the script samples the
//               coordinator's RSS meanwhile. Prints when all are spawned and
//               when all ended.
// Before measuring, one where() task reports the node and pid that ran it,
// which shows the tasks really left the driver's process and node.
//
// Run directly (no SKEIN_AGENT_SOCKET) every task runs in this process and
// the placement is recorded but not enforced: the local-mode figures show the
// SDK's own cost, not the cluster's.
//
// Usage: remote_tasks [--mode all|throughput|latency|inflight] [--target NODE]
//          [--tasks 200000] [--rounds 5] [--calls 2000] [--warmup 200]
//          [--hold-ms 20000] [--retries 3] [--window N]
// --window N sets SKEIN_TASK_WINDOW=N for this process before skein::run reads
// it (0: leave the environment alone).
// Output: lines "skein <what> key=value ..." (parsed by remote_bench.sh).
// Exit status: 0, 1 when a task failed or a check failed, 2 on bad usage.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <skein/skein.hpp>
#include <skein/spawn.hpp>
#include <skein/time.hpp>

#include "cluster/latency_summary.hpp"

namespace {

// The tiny task: as little work as Erlang's tiny/2 (which adds one and replies).
std::int64_t tiny(std::int64_t x) { return x + 1; }
SKEIN_REMOTE(tiny);

// Holds a task in flight for ms milliseconds without holding a thread.
void nap(std::int64_t ms) { skein::sleep_for(std::chrono::milliseconds(ms)); }
SKEIN_REMOTE(nap);

// "NODE PID" of the process that runs it; NODE is "local" outside a cluster.
std::string where() {
  const char* node = std::getenv("SKEIN_NODE_ID");
  return std::string(node != nullptr && node[0] != '\0' ? node : "local") + " " +
         std::to_string(::getpid());
}
SKEIN_REMOTE(where);

struct Flags {
  std::string mode = "all";
  std::string target;
  std::int64_t tasks = 200'000;
  std::int64_t rounds = 5;
  std::int64_t calls = 2000;
  std::int64_t warmup = 200;
  std::int64_t hold_ms = 20'000;
  std::int64_t retries = 3;
  std::int64_t window = -1;  // -1: the mode's default (inflight: tasks; else untouched)
};

bool parse_int(const char* text, std::int64_t& out) {
  char* end = nullptr;
  out = std::strtoll(text, &end, 10);
  return end != text && *end == '\0' && out >= 0;
}

bool parse_flags(int argc, char** argv, Flags& f) {
  if (argc % 2 != 1) {
    return false;  // flags come in pairs
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    bool ok = true;
    if (flag == "--mode") {
      f.mode = value;
      ok = f.mode == "all" || f.mode == "throughput" || f.mode == "latency" || f.mode == "inflight";
    } else if (flag == "--target") {
      f.target = value;
    } else if (flag == "--tasks") {
      ok = parse_int(value, f.tasks) && f.tasks > 0;
    } else if (flag == "--rounds") {
      ok = parse_int(value, f.rounds) && f.rounds > 0;
    } else if (flag == "--calls") {
      ok = parse_int(value, f.calls) && f.calls > 0;
    } else if (flag == "--warmup") {
      ok = parse_int(value, f.warmup);
    } else if (flag == "--hold-ms") {
      ok = parse_int(value, f.hold_ms);
    } else if (flag == "--retries") {
      ok = parse_int(value, f.retries);
    } else if (flag == "--window") {
      ok = parse_int(value, f.window);
    } else {
      ok = false;
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One throughput round; returns its milliseconds. Throws RemoteError if a task failed.
double throughput_round(const skein::SpawnOptions& options, std::int64_t tasks) {
  const auto t0 = std::chrono::steady_clock::now();
  skein::DistWaitGroup wg;
  for (std::int64_t i = 0; i < tasks; ++i) {
    skein::spawn(wg, options, SKEIN_FN(tiny), i);
  }
  wg.wait();
  return ms_since(t0);
}

void run_throughput(const Flags& f, const skein::SpawnOptions& options) {
  throughput_round(options, f.tasks);  // warm-up: worker start, first allocations
  std::vector<double> times;
  for (std::int64_t r = 1; r <= f.rounds; ++r) {
    const double ms = throughput_round(options, f.tasks);
    times.push_back(ms);
    std::printf("skein throughput_round round=%lld tasks=%lld ms=%.3f\n", static_cast<long long>(r),
                static_cast<long long>(f.tasks), ms);
    std::fflush(stdout);
  }
  std::vector<std::int64_t> ns;  // the median the same way as latencies (nearest rank)
  for (double ms : times) {
    ns.push_back(static_cast<std::int64_t>(ms * 1e6));
  }
  const skein::bench::LatencySummary s = skein::bench::summarize(ns);
  const double median_ms = s.median_us / 1e3;
  std::printf(
      "skein throughput tasks=%lld rounds=%lld median_ms=%.3f min_ms=%.3f max_ms=%.3f "
      "tasks_per_s=%.0f\n",
      static_cast<long long>(f.tasks), static_cast<long long>(f.rounds), median_ms,
      static_cast<double>(ns.front()) / 1e6, static_cast<double>(ns.back()) / 1e6,
      static_cast<double>(f.tasks) / (median_ms / 1e3));
  std::fflush(stdout);
}

// Returns false if a result was wrong.
bool run_latency(const Flags& f, const skein::SpawnOptions& options) {
  std::vector<std::int64_t> samples_ns;
  samples_ns.reserve(static_cast<std::size_t>(f.calls));
  for (std::int64_t i = 0; i < f.warmup + f.calls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::int64_t got = skein::spawn(options, SKEIN_FN(tiny), i).get();
    const auto t1 = std::chrono::steady_clock::now();
    if (got != i + 1) {
      std::fprintf(stderr, "remote_tasks: tiny(%lld) returned %lld\n", static_cast<long long>(i),
                   static_cast<long long>(got));
      return false;
    }
    if (i >= f.warmup) {
      samples_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    }
  }
  const skein::bench::LatencySummary s = skein::bench::summarize(samples_ns);
  std::printf("skein latency calls=%zu median_us=%.2f p99_us=%.2f min_us=%.2f mean_us=%.2f\n",
              s.count, s.median_us, s.p99_us, s.min_us, s.mean_us);
  std::fflush(stdout);
  return true;
}

void run_inflight(const Flags& f, const skein::SpawnOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  skein::DistWaitGroup wg;
  for (std::int64_t i = 0; i < f.tasks; ++i) {
    skein::spawn(wg, options, SKEIN_FN(nap), f.hold_ms);
  }
  // The script starts sampling at this line; with an owner window smaller than
  // TASKS the loop above already waited for the first naps to end.
  std::printf("skein inflight spawned=%lld spawn_ms=%.3f hold_ms=%lld\n",
              static_cast<long long>(f.tasks), ms_since(t0), static_cast<long long>(f.hold_ms));
  std::fflush(stdout);
  wg.wait();
  std::printf("skein inflight done tasks=%lld total_ms=%.3f\n", static_cast<long long>(f.tasks),
              ms_since(t0));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!parse_flags(argc, argv, flags)) {
    std::fprintf(stderr,
                 "usage: %s [--mode all|throughput|latency|inflight] [--target NODE] "
                 "[--tasks N] [--rounds N] [--calls N] [--warmup N] [--hold-ms MS] "
                 "[--retries N] [--window N]\n",
                 argv[0]);
    return 2;
  }
  if (flags.window < 0 && flags.mode == "inflight") {
    flags.window = flags.tasks;
  }
  if (flags.window > 0) {
    // Before skein::run: the cluster transport reads it when it is installed.
    ::setenv("SKEIN_TASK_WINDOW", std::to_string(flags.window).c_str(), 1);
  }
  const char* window_env = std::getenv("SKEIN_TASK_WINDOW");
  const std::string window = window_env != nullptr ? window_env : "default";
  return skein::run(argc, argv, [&flags, &window]() -> int {
    const auto context = skein::cluster::context_from_env();
    const bool cluster = skein::cluster::connected_to_agent();
    const std::string own_node = context ? context->node_id : std::string("local");
    if (cluster && (flags.target.empty() || flags.target == own_node)) {
      std::fprintf(stderr, "remote_tasks: --target must name a node other than this one (%s)\n",
                   own_node.c_str());
      return 2;
    }
    skein::SpawnOptions options;
    if (!flags.target.empty()) {
      options.placement = skein::Placement::pinned(flags.target);
    }
    options.max_retries = static_cast<int>(flags.retries);
    std::printf(
        "skein mode=%s node=%s pid=%d target=%s procs=%d placement=%s retries=%d window=%s\n",
        cluster ? "cluster" : "local", own_node.c_str(), static_cast<int>(::getpid()),
        flags.target.empty() ? "-" : flags.target.c_str(), skein::current_runtime()->config().procs,
        options.placement.to_string().c_str(), options.max_retries, window.c_str());
    std::fflush(stdout);
    try {
      const std::string ran_on = skein::spawn(options, SKEIN_FN(where)).get();
      std::printf("skein where ran_on=\"%s\"\n", ran_on.c_str());
      std::fflush(stdout);
      // A figure for tasks that stayed home would be meaningless here.
      if (cluster && ran_on.substr(0, ran_on.find(' ')) != flags.target) {
        std::fprintf(stderr, "remote_tasks: a task pinned to %s ran on %s\n", flags.target.c_str(),
                     ran_on.c_str());
        return 1;
      }
      if (flags.mode == "inflight") {
        run_inflight(flags, options);
        return 0;
      }
      if (flags.mode == "all" || flags.mode == "latency") {
        if (!run_latency(flags, options)) {
          return 1;
        }
      }
      if (flags.mode == "all" || flags.mode == "throughput") {
        run_throughput(flags, options);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "remote_tasks: %s\n", e.what());
      return 1;
    }
    return 0;
  });
}
