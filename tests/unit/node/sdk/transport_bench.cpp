// transport_bench: the worker side of task dispatch against an agent that
// answers at once (FakeAgent auto-reply: an infinitely fast cluster), so the
// figures are what the owner process itself costs: encode, owner table,
// window, flat-combined frames on the Unix socket, the reader thread and
// completion. Not a cluster benchmark (bench/ has those).
//
//   transport_bench [tasks=200000] [runs=5]
// Prints, per window size, the median tasks/s of `runs` runs of `tasks`
// spawn(wg, ...) calls from 1 and from 8 goroutines, with frames and tasks per
// frame; then the median and p99 of 5,000 sequential spawn+get round trips.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "fake_agent.hpp"
#include "skein/blocking.hpp"
#include "skein/detail/serialize.hpp"
#include "skein/go.hpp"
#include "skein/remote.hpp"
#include "skein/waitgroup.hpp"
#include "worker_harness.hpp"

namespace {

using namespace std::chrono_literals;
using skein::node::testing::FakeAgent;
using skein::node::testing::in_runtime;
using skein::node::testing::Worker;
using Clock = std::chrono::steady_clock;

int add(int a, int b) { return a + b; }

}  // namespace

SKEIN_REMOTE(add);

namespace {

struct Run {
  double tasks_per_s = 0;
  double tasks_per_frame = 0;
};

Run throughput(std::uint32_t window, int spawners, int tasks, std::size_t inline_below = 64) {
  FakeAgent agent;
  agent.set_auto_reply(true);
  Run run;
  in_runtime(2, [&] {
    Worker w(agent,
             skein::node::ClusterTransportOptions{.window = window, .inline_below = inline_below});
    if (!w.connected().ok()) {
      std::fprintf(stderr, "connect failed\n");
      std::exit(1);
    }
    const std::string args = skein::detail::encode(std::make_tuple(1, 2));
    skein::DistWaitGroup wg;
    skein::WaitGroup spawned;
    spawned.add(spawners);
    const auto t0 = Clock::now();
    for (int s = 0; s < spawners; ++s) {
      skein::go([&, s] {
        const int n = tasks / spawners + (s < tasks % spawners ? 1 : 0);
        for (int i = 0; i < n; ++i) {
          w.launch(wg, "add", args);
        }
        spawned.done();
      });
    }
    spawned.wait();
    wg.wait();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    run.tasks_per_s = tasks / secs;
    const auto c = w.transport().counters();
    run.tasks_per_frame = c.frames > 0 ? static_cast<double>(c.sent) / c.frames : 0;
  });
  return run;
}

// A task worker's side: the agent sends `tasks` add() tasks in TaskBatches
// of 1,024; the time until every result came back.
void runner_throughput(int tasks, int runs) {
  std::vector<double> rates;
  double per_frame = 0;
  for (int run = 0; run < runs; ++run) {
    FakeAgent agent;
    in_runtime(2, [&] {
      Worker w(agent);
      const std::string args = skein::detail::encode(std::make_tuple(1, 2));
      const auto t0 = Clock::now();
      int sent = 0;
      while (sent < tasks) {
        skein::v1::AgentToWorker m;
        auto* b = m.mutable_tasks();
        b->set_job_id(5);
        b->mutable_owner()->set_node_id("n1");
        b->mutable_owner()->set_worker_id(3);
        for (int i = 0; i < 1024 && sent < tasks; ++i, ++sent) {
          auto* t = b->add_tasks();
          t->set_task_id(static_cast<std::uint64_t>(sent) + 1);
          t->set_attempt(1);
          t->set_function("add");
          t->set_args(args);
          t->set_wants_result(false);
        }
        agent.send(m);
      }
      int results = 0;
      int frames = 0;
      while (results < tasks) {
        auto f = skein::blocking([&] { return agent.next(10s); });
        if (!f) {
          std::fprintf(stderr, "results missing: %d of %d\n", results, tasks);
          std::exit(1);
        }
        results += f->results().results_size();
        ++frames;
      }
      rates.push_back(tasks / std::chrono::duration<double>(Clock::now() - t0).count());
      per_frame = static_cast<double>(results) / frames;
    });
  }
  std::sort(rates.begin(), rates.end());
  std::printf(
      "task worker: %d tasks in batches of 1,024: median %9.0f tasks/s (min %9.0f, max "
      "%9.0f), %.1f results/frame (last run)\n",
      tasks, rates[rates.size() / 2], rates.front(), rates.back(), per_frame);
}

void latency(int n) {
  FakeAgent agent;
  agent.set_auto_reply(true);
  std::vector<double> us;
  us.reserve(n);
  in_runtime(2, [&] {
    Worker w(agent);
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      int v = w.launch("add", skein::detail::encode(std::make_tuple(i, 1))).get();
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      if (v != i + 1) {
        std::fprintf(stderr, "wrong result %d for %d\n", v, i);
        std::exit(1);
      }
    }
  });
  std::sort(us.begin(), us.end());
  std::printf("round trip spawn+get, sequential, %d: median %.1f us, p99 %.1f us, min %.1f us\n", n,
              us[us.size() / 2], us[us.size() * 99 / 100], us.front());
}

}  // namespace

int main(int argc, char** argv) {
  const int tasks = argc > 1 ? std::atoi(argv[1]) : 200000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  for (std::uint32_t window : {256u, 1024u, 4096u, 16384u, 65536u}) {
    for (int spawners : {1, 8}) {
      std::vector<Run> r;
      for (int i = 0; i < runs; ++i) {
        r.push_back(throughput(window, spawners, tasks));
      }
      std::sort(r.begin(), r.end(),
                [](const Run& a, const Run& b) { return a.tasks_per_s < b.tasks_per_s; });
      const Run& med = r[r.size() / 2];
      std::printf(
          "window %6u, %d spawner(s), %d tasks: median %9.0f tasks/s (min %9.0f, max %9.0f), "
          "%.1f tasks/frame\n",
          window, spawners, tasks, med.tasks_per_s, r.front().tasks_per_s, r.back().tasks_per_s,
          med.tasks_per_frame);
    }
  }
  // For comparison: flat combining alone (every spawn writes if nobody does).
  for (int spawners : {1, 8}) {
    std::vector<Run> r;
    for (int i = 0; i < runs; ++i) {
      r.push_back(throughput(16384, spawners, tasks, SIZE_MAX));
    }
    std::sort(r.begin(), r.end(),
              [](const Run& a, const Run& b) { return a.tasks_per_s < b.tasks_per_s; });
    std::printf(
        "flat combining only, window 16384, %d spawner(s): median %9.0f tasks/s, %.1f "
        "tasks/frame\n",
        spawners, r[r.size() / 2].tasks_per_s, r[r.size() / 2].tasks_per_frame);
  }
  runner_throughput(tasks, runs);
  latency(5000);
  return 0;
}
