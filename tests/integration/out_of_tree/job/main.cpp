// An out-of-tree Skein job: this folder is a project of its own that sees only
// an installed SDK (find_package(Skein)), never the source tree. The test
// (../out_of_tree_test.cpp) builds it against a fresh install, runs it
// directly, then submits it to a real cluster.
//
// Each step prints one line the test checks, so a wrong sum is a failure and
// not just a line that happens to be there:
//   mode: local | mode: cluster job <id>
//   chan: <producers> producers sent <n> values, sum <n(n+1)/2>
//   spawn: <tasks> tasks, sum of squares <sum of i^2 for i in [0, n)>
//   remote error: <exception type>: <message>
//   placement: task ran in the driver process | in another process
//   out-of-tree job done
// Usage: job [n] (default 1000).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <skein/skein.hpp>

namespace {

constexpr std::int64_t kDefaultN = 1000;
constexpr int kProducers = 4;
constexpr int kTasks = 10;

}  // namespace

// Sum of i*i over [from, to): one slice of the work, run wherever the task is
// placed.
std::int64_t sum_squares(std::int64_t from, std::int64_t to) {
  std::int64_t sum = 0;
  for (std::int64_t i = from; i < to; ++i) {
    sum += i * i;
  }
  return sum;
}
SKEIN_REMOTE(sum_squares);

// Throws, so the job shows that a remote exception reaches its caller as
// skein::RemoteError with the exception's type and message.
std::int64_t checked_sqrt(std::int64_t x) {
  if (x < 0) {
    throw std::domain_error("negative input " + std::to_string(x));
  }
  std::int64_t r = 0;
  while ((r + 1) * (r + 1) <= x) {
    ++r;
  }
  return r;
}
SKEIN_REMOTE(checked_sqrt);

// The process a task ran in: the driver itself in local mode, a task worker
// of the job once the coordinator places tasks.
std::int64_t worker_pid() { return static_cast<std::int64_t>(::getpid()); }
SKEIN_REMOTE(worker_pid);

int main(int argc, char** argv) {
  std::int64_t n = kDefaultN;
  if (argc > 1) {
    char* end = nullptr;
    n = std::strtoll(argv[1], &end, 10);
    if (*end != '\0' || n < kTasks) {
      std::fprintf(stderr, "usage: %s [n >= %d]\n", argv[0], kTasks);
      return 2;
    }
  }
  return skein::run(argc, argv, [n]() -> int {
    if (auto ctx = skein::cluster::context_from_env()) {
      std::printf("mode: cluster job %llu\n", static_cast<unsigned long long>(ctx->job_id));
    } else {
      std::printf("mode: local\n");
    }

    // Local goroutines as in Go: producers share 1..n over an unbuffered
    // channel; a WaitGroup tells the closer when they are all done. A Chan is
    // a handle to a shared channel, so goroutines capture it by value.
    skein::Chan<std::int64_t> values(0);
    skein::WaitGroup producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.add(1);
      skein::go([values, &producers, p, n] {
        for (std::int64_t v = 1 + p; v <= n; v += kProducers) {
          values.send(v);
        }
        producers.done();
      });
    }
    skein::go([values, &producers] {
      producers.wait();
      values.close();
    });
    std::int64_t count = 0;
    std::int64_t sum = 0;
    for (std::int64_t v : values) {
      ++count;
      sum += v;
    }
    std::printf("chan: %d producers sent %lld values, sum %lld\n", kProducers,
                static_cast<long long>(count), static_cast<long long>(sum));

    // Remote tasks: [0, n) in kTasks slices, each a task the cluster places.
    std::vector<skein::Future<std::int64_t>> parts;
    for (int t = 0; t < kTasks; ++t) {
      parts.push_back(skein::spawn(SKEIN_FN(sum_squares), n * t / kTasks, n * (t + 1) / kTasks));
    }
    std::int64_t squares = 0;
    for (auto& part : parts) {
      squares += part.get();
    }
    std::printf("spawn: %d tasks, sum of squares %lld\n", kTasks, static_cast<long long>(squares));

    try {
      skein::spawn(SKEIN_FN(checked_sqrt), -4).get();
      std::printf("remote error: none\n");
    } catch (const skein::RemoteError& e) {
      std::printf("remote error: %s: %s\n", e.type_name().c_str(), e.message().c_str());
    }

    const bool here = skein::spawn(SKEIN_FN(worker_pid)).get() == ::getpid();
    std::printf("placement: task ran in %s\n", here ? "the driver process" : "another process");

    const bool ok = count == n && sum == n * (n + 1) / 2 &&
                    squares == (n - 1) * n * (2 * n - 1) / 6 &&
                    skein::spawn(SKEIN_FN(checked_sqrt), 1'000'000).get() == 1000;
    std::printf("out-of-tree job %s\n", ok ? "done" : "FAILED");
    return ok ? 0 : 1;
  });
}
