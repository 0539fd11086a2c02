// Test helper process for net_test: opens N connections to an echo server,
// holds them all open at once, then sends a distinct message on each,
// verifies the echo, and closes them only once every echo is back (so the
// server must have held all N at once). Prints "ok <n>" and exits 0, or explains and exits 1.
//   echo_client <port> <connections>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "skein/net.hpp"
#include "skein/sched.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: echo_client <port> <connections>\n");
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const int n = std::atoi(argv[2]);
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  int code = skein::run(argc, argv, [&] {
    skein::WaitGroup connected;
    skein::WaitGroup all_connected;
    skein::WaitGroup echoed;
    skein::WaitGroup all_echoed;
    skein::WaitGroup done;
    connected.add(n);
    echoed.add(n);
    all_echoed.add(1);
    all_connected.add(1);
    done.add(n);
    for (int i = 0; i < n; ++i) {
      skein::go([&, i] {
        std::error_code ec;
        auto deadline = skein::net::Clock::now() + std::chrono::seconds(60);
        skein::net::TcpStream c = skein::net::TcpStream::connect("127.0.0.1", port, ec, deadline);
        connected.done();
        if (ec) {
          std::fprintf(stderr, "connect %d: %s\n", i, ec.message().c_str());
          failed.fetch_add(1);
          echoed.done();
          done.done();
          return;
        }
        all_connected.wait();  // every connection is open before any echo
        c.set_read_deadline(deadline);
        std::string msg = "hello from connection " + std::to_string(i) + "\n";
        std::string back(msg.size(), '\0');
        c.write_all(msg.data(), msg.size(), ec);
        if (!ec) {
          c.read_exact(back.data(), back.size(), ec);
        }
        if (ec || back != msg) {
          std::fprintf(stderr, "echo %d: %s\n", i, ec ? ec.message().c_str() : "mismatch");
          failed.fetch_add(1);
        } else {
          ok.fetch_add(1);
        }
        echoed.done();
        all_echoed.wait();  // and every connection stays open until all echoed
        done.done();
      });
    }
    connected.wait();
    all_connected.done();
    echoed.wait();
    all_echoed.done();
    done.wait();
  });
  if (code != 0 || failed.load() != 0 || ok.load() != n) {
    std::fprintf(stderr, "echo_client: %d ok, %d failed\n", ok.load(), failed.load());
    return 1;
  }
  std::printf("ok %d\n", ok.load());
  return 0;
}
