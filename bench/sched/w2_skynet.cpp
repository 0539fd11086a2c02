// W2 skynet: a tree of goroutines, 10 children per node, 1,000,000 leaves; each
// leaf sends its index and every inner node sends the sum of its children back
// to its parent over an unbuffered channel. The expected total is 499999500000.
// Go twin: bench/go/w2_skynet.
#include <cstdint>
#include <cstdio>

#include "bench_result.hpp"
#include "skein/sched.hpp"

namespace {
constexpr std::int64_t kLeaves = 1'000'000;
constexpr std::int64_t kChildren = 10;
constexpr std::int64_t kGoroutines = 1'111'111;  // 1 + 10 + ... + 1,000,000
constexpr const char* kName = "w2_skynet";

void skynet(const skein::Chan<std::int64_t>& out, std::int64_t num, std::int64_t size) {
  if (size == 1) {
    out.send(num);
    return;
  }
  skein::Chan<std::int64_t> rc(0);
  const std::int64_t step = size / kChildren;
  for (std::int64_t i = 0; i < kChildren; ++i) {
    skein::go([rc, num, i, step] { skynet(rc, num + i * step, step); });
  }
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < kChildren; ++i) {
    sum += *rc.recv();
  }
  out.send(sum);
}
}  // namespace

int main() {
  skein::Runtime rt;  // Config::from_env(): SKEIN_PROCS sets the P count
  std::int64_t sum = 0;
  std::int64_t ns = 0;
  rt.run([&] {
    const std::int64_t start = skein::bench::now_ns();
    skein::Chan<std::int64_t> out(0);
    skein::go([out] { skynet(out, 0, kLeaves); });
    sum = *out.recv();
    ns = skein::bench::now_ns() - start;
  });
  skein::bench::check_eq(kName, "sum", sum, kLeaves * (kLeaves - 1) / 2);
  const skein::SchedStats stats = rt.stats();
  if (skein::bench::want_stats()) {
    std::fprintf(stderr, "%s", stats.to_string().c_str());
  }
  skein::bench::print_result(kName, ns,
                             {{"ops", kGoroutines}, {"sum", sum}, {"procs", stats.procs}});
  return 0;
}
