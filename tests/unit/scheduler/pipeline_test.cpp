// Channel programs with thousands of goroutines: the concurrent prime sieve
// (one filter goroutine per prime), a long pipeline, and a fan-out/fan-in
// worker pool.
#include <atomic>
#include <cstdint>
#include <vector>

#include "sched_fixture.hpp"
#include "skein/chan.hpp"
#include "skein/select.hpp"

namespace skein {
namespace {

using PipelineTest = testing::SchedTest;

// Sends 2, 3, 4, ... up to limit, then closes.
void generate(Chan<int> out, int limit) {
  for (int i = 2; i <= limit; ++i) {
    out.send(i);
  }
  out.close();
}

// Passes on the values of in not divisible by prime; closes out after in.
void filter(Chan<int> in, Chan<int> out, int prime) {
  for (int v : in) {
    if (v % prime != 0) {
      out.send(v);
    }
  }
  out.close();
}

TEST_P(PipelineTest, PrimeSieve) {
  run([] {
    // The 1000th prime is 7919; under a sanitizer, the 300th is 1987.
    const int n = testing::kScale > 1 ? 300 : 1000;
    const int nth = testing::kScale > 1 ? 1987 : 7919;
    Chan<int> ch(0);
    go([ch] { generate(ch, nth); });
    std::vector<int> primes;
    for (int i = 0; i < n; ++i) {
      const int prime = ch.recv().value();
      primes.push_back(prime);
      Chan<int> next(0);
      go([ch, next, prime] { filter(ch, next, prime); });
      ch = next;
    }
    EXPECT_EQ(primes[0], 2);
    EXPECT_EQ(primes[9], 29);
    EXPECT_EQ(primes.back(), nth);
    // Nothing below the limit survives all n filters: the chain drains.
    EXPECT_EQ(ch.recv(), std::nullopt);
  });
}

TEST_P(PipelineTest, ThousandsOfStages) {
  run([] {
    const int kStages = 5000 / testing::kScale;
    const int kValues = 1000 / (testing::kScale > 1 ? 5 : 1);
    Chan<std::int64_t> head(0);
    Chan<std::int64_t> in = head;
    for (int s = 0; s < kStages; ++s) {
      Chan<std::int64_t> out(s % 2);  // alternate unbuffered and buffered links
      go([in, out]() mutable {
        for (std::int64_t v : in) {
          out.send(v + 1);
        }
        out.close();
      });
      in = out;
    }
    go([head]() mutable {
      for (std::int64_t i = 0; i < kValues; ++i) {
        head.send(i);
      }
      head.close();
    });
    std::int64_t sum = 0;
    std::int64_t expect_next = kStages;
    for (std::int64_t v : in) {
      EXPECT_EQ(v, expect_next++);  // order survives the whole chain
      sum += v;
    }
    EXPECT_EQ(sum, static_cast<std::int64_t>(kValues) * (kValues - 1) / 2 +
                       static_cast<std::int64_t>(kValues) * kStages);
  });
}

TEST_P(PipelineTest, FanOutFanIn) {
  // Squares computed by a pool of workers; results merged by select over
  // per-worker result channels until each is closed.
  run([] {
    constexpr int kWorkers = 4;
    const int kItems = 20000 / testing::kScale;
    Chan<std::int64_t> jobs(16);
    std::vector<Chan<std::int64_t>> results;
    for (int w = 0; w < kWorkers; ++w) {
      results.emplace_back(8);
      go([jobs, out = results.back()]() mutable {
        for (std::int64_t v : jobs) {
          out.send(v * v);
        }
        out.close();
      });
    }
    go([jobs, kItems]() mutable {
      for (std::int64_t i = 0; i < kItems; ++i) {
        jobs.send(i);
      }
      jobs.close();
    });
    std::int64_t sum = 0;
    int open = kWorkers;
    std::vector<Chan<std::int64_t>> live = results;
    while (open > 0) {
      auto take = [&](int w) {
        return [&, w](std::optional<std::int64_t> v) {
          if (v) {
            sum += *v;
          } else {
            live[w] = Chan<std::int64_t>();  // nil: never selected again
            --open;
          }
        };
      };
      select(recv(live[0], take(0)), recv(live[1], take(1)), recv(live[2], take(2)),
             recv(live[3], take(3)));
    }
    std::int64_t want = 0;
    for (std::int64_t i = 0; i < kItems; ++i) {
      want += i * i;
    }
    EXPECT_EQ(sum, want);
  });
}

INSTANTIATE_TEST_SUITE_P(Procs, PipelineTest, ::testing::Values(1, 2, 4), testing::procs_name);

}  // namespace
}  // namespace skein
