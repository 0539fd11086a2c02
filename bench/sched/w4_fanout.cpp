// W4 fan-out/fan-in: 4 producers send 10,000,000 ints in total into one
// buffered channel (capacity 1024) drained by 4 consumers; the consumers'
// partial sums must add up to the sum of the values sent.
// Go twin: bench/go/w4_fanout.
#include <array>
#include <cstdint>
#include <cstdio>

#include "bench_result.hpp"
#include "skein/sched.hpp"

namespace {
constexpr std::int64_t kItems = 10'000'000;
constexpr int kProducers = 4;
constexpr int kConsumers = 4;
constexpr std::size_t kCapacity = 1024;
constexpr const char* kName = "w4_fanout";
}  // namespace

int main() {
  skein::Runtime rt;
  std::array<std::int64_t, kConsumers> partial{};
  std::int64_t ns = 0;
  rt.run([&] {
    skein::Chan<std::int64_t> ch(kCapacity);
    skein::WaitGroup producers;
    skein::WaitGroup consumers;
    const std::int64_t start = skein::bench::now_ns();
    for (int c = 0; c < kConsumers; ++c) {
      consumers.add(1);
      skein::go([&, ch, c] {
        std::int64_t s = 0;
        for (std::int64_t v : ch) {
          s += v;
        }
        partial[c] = s;
        consumers.done();
      });
    }
    constexpr std::int64_t kPerProducer = kItems / kProducers;
    for (int p = 0; p < kProducers; ++p) {
      producers.add(1);
      skein::go([&, ch, p] {
        const std::int64_t base = p * kPerProducer;
        for (std::int64_t i = 0; i < kPerProducer; ++i) {
          ch.send(base + i);
        }
        producers.done();
      });
    }
    producers.wait();
    ch.close();
    consumers.wait();
    ns = skein::bench::now_ns() - start;
  });
  std::int64_t sum = 0;
  for (std::int64_t s : partial) {
    sum += s;
  }
  skein::bench::check_eq(kName, "sum", sum, kItems * (kItems - 1) / 2);
  const skein::SchedStats stats = rt.stats();
  if (skein::bench::want_stats()) {
    std::fprintf(stderr, "%s", stats.to_string().c_str());
  }
  skein::bench::print_result(kName, ns, {{"ops", kItems}, {"procs", stats.procs}});
  return 0;
}
