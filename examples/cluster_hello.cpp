// cluster_hello: a small job to submit to a cluster (`make demo` uses it).
//
// Runs for a few seconds of real scheduler work — rounds of 1,000 goroutines
// joined by a WaitGroup, with a channel-free fan-in through a Mutex — and
// prints a progress line per second, so `skein stats` has live numbers to show
// and `skein logs` has output to follow. Run directly it is an ordinary local
// program; submitted with `skein submit` it also reports its scheduler stats
// to its node agent (that is what linking skein::skein adds).
//
//   cluster_hello [SECONDS]   (default 4)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "skein/skein.hpp"

namespace {
constexpr double kDefaultSeconds = 4;
constexpr int kFanOut = 1000;
}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : kDefaultSeconds;
  return skein::run(argc, argv, [seconds] {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    auto next_report = start + std::chrono::seconds(1);
    std::uint64_t goroutines = 0;
    std::uint64_t sum = 0;
    skein::Mutex mu;
    std::printf("cluster_hello: %s, running %.1f s of goroutine rounds\n",
                skein::cluster::connected_to_agent() ? "launched by a node agent" : "local run",
                seconds);
    std::fflush(stdout);
    while (Clock::now() < end) {
      skein::WaitGroup wg;
      wg.add(kFanOut);
      for (int i = 0; i < kFanOut; ++i) {
        skein::go([&, i] {
          std::uint64_t local = 0;
          for (int k = 0; k < 1000; ++k) {
            local += static_cast<std::uint64_t>(i ^ k);
          }
          mu.lock();
          sum += local;
          mu.unlock();
          wg.done();
        });
      }
      wg.wait();
      goroutines += kFanOut;
      if (Clock::now() >= next_report) {
        std::printf("  %5.1f s: %llu goroutines so far\n",
                    std::chrono::duration<double>(Clock::now() - start).count(),
                    static_cast<unsigned long long>(goroutines));
        std::fflush(stdout);
        next_report += std::chrono::seconds(1);
      }
    }
    std::printf("cluster_hello: done, %llu goroutines, checksum %llu\n",
                static_cast<unsigned long long>(goroutines), static_cast<unsigned long long>(sum));
  });
}
