// skein::net: goroutine-per-connection TCP on the netpoller.
#include <dirent.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <atomic>
#include <string>
#include <thread>

#include "sched_fixture.hpp"
#include "skein/net.hpp"

extern char** environ;

namespace skein {
namespace {

using namespace std::chrono_literals;
using NetTest = testing::SchedTest;

int os_threads() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) {
      n += e->d_name[0] != '.';
    }
    ::closedir(d);
  }
  return n;
}

// Echoes every byte back until the peer closes.
void echo(net::TcpStream c) {
  char buf[4096];
  std::error_code ec;
  for (;;) {
    std::size_t n = c.read_some(buf, sizeof buf, ec);
    if (ec || n == 0) {
      return;
    }
    c.write_all(buf, n, ec);
    if (ec) {
      return;
    }
  }
}

TEST_P(NetTest, EchoRoundTrips) {
  run([] {
    net::TcpListener ln = net::TcpListener::listen("127.0.0.1", 0);
    ASSERT_NE(ln.port(), 0);
    WaitGroup served;
    served.add(1);
    go([&] {
      echo(ln.accept());
      served.done();
    });
    net::TcpStream c = net::TcpStream::connect("localhost", ln.port());
    for (int i = 0; i < 100; ++i) {
      std::string msg = "ping " + std::to_string(i);
      c.write_all(msg.data(), msg.size());
      std::string back(msg.size(), '\0');
      c.read_exact(back.data(), back.size());
      ASSERT_EQ(back, msg);
    }
    c.close();
    served.wait();
  });
}

TEST_P(NetTest, ReadDeadlineTimesOut) {
  run([] {
    net::TcpListener ln = net::TcpListener::listen("127.0.0.1", 0);
    WaitGroup accepted;
    accepted.add(1);
    net::TcpStream server_side;
    go([&] {
      server_side = ln.accept();  // accepts, never writes
      accepted.done();
    });
    net::TcpStream c = net::TcpStream::connect("127.0.0.1", ln.port());
    accepted.wait();
    auto start = Clock::now();
    c.set_read_deadline(start + 50ms);
    char b;
    std::error_code ec;
    EXPECT_EQ(c.read_some(&b, 1, ec), 0u);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_GE(Clock::now() - start, 50ms);
    // The connection still works after a timeout.
    c.set_read_deadline(net::Clock::time_point::max());
    server_side.write_all("x", 1);
    EXPECT_EQ(c.read_some(&b, 1, ec), 1u);
    EXPECT_FALSE(ec);
    EXPECT_EQ(b, 'x');
  });
}

TEST_P(NetTest, ConnectRefusedIsAnError) {
  run([] {
    std::uint16_t port;
    {
      net::TcpListener ln = net::TcpListener::listen("127.0.0.1", 0);
      port = ln.port();
    }
    std::error_code ec;
    net::TcpStream c = net::TcpStream::connect("127.0.0.1", port, ec);
    EXPECT_TRUE(ec);
    EXPECT_FALSE(c.is_open());
    EXPECT_THROW(net::TcpStream::connect("not-an-address", 1), std::system_error);
  });
}

TEST_P(NetTest, ManyGoroutinesBlockedInReadsBurnNoCpu) {
  run([] {
    net::TcpListener ln = net::TcpListener::listen("127.0.0.1", 0);
    constexpr int kConns = 100;
    std::vector<net::TcpStream> clients;
    WaitGroup served;
    served.add(kConns);
    go([&] {
      for (int i = 0; i < kConns; ++i) {
        go([c = ln.accept(), &served]() mutable {
          echo(std::move(c));
          served.done();
        });
      }
    });
    for (int i = 0; i < kConns; ++i) {
      clients.push_back(net::TcpStream::connect("127.0.0.1", ln.port()));
    }
    SchedStats s = current_runtime()->stats();
    for (int i = 0; i < 1000 && s.blocked < kConns; ++i) {
      sleep_for(10ms);
      s = current_runtime()->stats();
    }
    EXPECT_GE(s.blocked, kConns);
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
    // Everyone is parked in the netpoller: the process must sleep in epoll.
    auto cpu = [] {
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000L + ru.ru_utime.tv_usec +
             ru.ru_stime.tv_usec;
    };
    long before = cpu();
    sleep_for(500ms);
    EXPECT_LT(cpu() - before, 20'000) << "microseconds of CPU while idle";
#endif  // sanitizer runtimes have busy threads of their own
    for (auto& c : clients) {
      c.close();
    }
    served.wait();
  });
}

SKEIN_INSTANTIATE_PROCS(NetTest);

// The acceptance test: 10,000 concurrent connections on a
// goroutine-per-connection server with 2 Ps and at most 4 OS threads
// (the test's own thread, 2 Ms and sysmon); the client runs in another
// process so each side has its own 10,000 descriptors.
TEST(NetScale, TenThousandConcurrentEchoConnectionsOnFourThreads) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int kConns = 1000;
#else
  constexpr int kConns = 10'000;
#endif
  Runtime rt(Config{.procs = 2});
  std::atomic<int> live{0};
  std::atomic<int> max_live{0};
  std::atomic<int> max_threads{0};
  int client_status = -1;
  rt.run([&] {
    net::TcpListener ln = net::TcpListener::listen("127.0.0.1", 0);
    WaitGroup handlers;
    WaitGroup acceptor;
    acceptor.add(1);
    go([&] {
      for (;;) {
        std::error_code ec;
        net::TcpStream c = ln.accept(ec);
        if (ec) {
          acceptor.done();  // ln.close() below ends the loop
          return;
        }
        handlers.add(1);
        go([&, c = std::move(c)]() mutable {
          int now = live.fetch_add(1) + 1;
          int seen = max_live.load();
          while (now > seen && !max_live.compare_exchange_weak(seen, now)) {
          }
          echo(std::move(c));
          live.fetch_sub(1);
          handlers.done();
        });
      }
    });
    std::string port = std::to_string(ln.port());
    std::string conns = std::to_string(kConns);
    std::string self = ECHO_CLIENT_PATH;
    char* args[] = {self.data(), port.data(), conns.data(), nullptr};
    pid_t pid = -1;
    ASSERT_EQ(::posix_spawn(&pid, self.c_str(), nullptr, nullptr, args, environ), 0);
    // Poll for the child without blocking an M (blocking() would add one).
    for (;;) {
      max_threads.store(std::max(max_threads.load(), os_threads()));
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        client_status = status;
        break;
      }
      sleep_for(5ms);
    }
    ln.close();
    acceptor.wait();  // ln lives on this stack: the acceptor must be gone first
    handlers.wait();
  });
  ASSERT_TRUE(WIFEXITED(client_status)) << "client status " << client_status;
  EXPECT_EQ(WEXITSTATUS(client_status), 0);
  EXPECT_EQ(max_live.load(), kConns) << "all connections were open at once";
#if defined(__SANITIZE_THREAD__)
  constexpr int kSanitizerThreads = 1;  // TSan's background thread
#else
  constexpr int kSanitizerThreads = 0;
#endif
  EXPECT_LE(max_threads.load(), 4 + kSanitizerThreads);
}

}  // namespace
}  // namespace skein
