// W8 echo: a goroutine-per-connection TCP echo server on 127.0.0.1 and, in the
// same process, 64 client goroutines each doing 10,000 request/response round
// trips of 64 bytes (640,000 echoes; every byte checked). Measures the
// netpoller: every read that finds no data parks its goroutine.
// Go twin: bench/go/w8_echo.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench_result.hpp"
#include "skein/net.hpp"
#include "skein/sched.hpp"

namespace {
constexpr int kConns = 64;
constexpr int kTrips = 10'000;
constexpr std::size_t kMsg = 64;
constexpr const char* kName = "w8_echo";

void serve(skein::net::TcpStream c) {
  char buf[4096];
  std::error_code ec;
  for (;;) {
    std::size_t n = c.read_some(buf, sizeof buf, ec);
    if (ec || n == 0 || (c.write_all(buf, n, ec), ec)) {
      return;
    }
  }
}
}  // namespace

int main() {
  skein::Runtime rt;
  std::int64_t ns = 0;
  std::int64_t ok = 0;
  rt.run([&] {
    auto ln = skein::net::TcpListener::listen("127.0.0.1", 0);
    skein::WaitGroup accepted;
    accepted.add(1);
    skein::go([&] {
      for (int i = 0; i < kConns; ++i) {
        skein::go([c = ln.accept()]() mutable { serve(std::move(c)); });
      }
      accepted.done();
    });
    std::vector<skein::net::TcpStream> conns;
    for (int i = 0; i < kConns; ++i) {
      conns.push_back(skein::net::TcpStream::connect("127.0.0.1", ln.port()));
    }
    accepted.wait();
    std::atomic<std::int64_t> good{0};
    skein::WaitGroup clients;
    clients.add(kConns);
    const std::int64_t start = skein::bench::now_ns();
    for (int i = 0; i < kConns; ++i) {
      skein::go([&, i] {
        char out[kMsg];
        char in[kMsg];
        for (int t = 0; t < kTrips; ++t) {
          std::memset(out, 'a' + (i + t) % 26, kMsg);
          conns[i].write_all(out, kMsg);
          conns[i].read_exact(in, kMsg);
          good.fetch_add(std::memcmp(in, out, kMsg) == 0, std::memory_order_relaxed);
        }
        clients.done();
      });
    }
    clients.wait();
    ns = skein::bench::now_ns() - start;
    ok = good.load();
    for (auto& c : conns) {
      c.close();
    }
    ln.close();
  });
  skein::bench::check_eq(kName, "echoes", ok, std::int64_t{kConns} * kTrips);
  skein::bench::print_result(kName, ns,
                             {{"ops", std::int64_t{kConns} * kTrips}, {"procs", rt.stats().procs}});
  return 0;
}
