// skein_lossy_proxy: a small userspace TCP proxy that makes a link slow and
// lossy, for the multi-host test bed (tests/multihost). `tc netem` is not
// available in the CI kernel, so a host that should sit behind a slow link
// reaches its peer through this proxy instead.
//
//   skein_lossy_proxy --listen ADDR:PORT --target ADDR:PORT
//                     [--delay-ms 20] [--loss 0.01] [--stall-ms 200]
//                     [--max-conns 64] [--seed N]
//   skein_lossy_proxy --listen ADDR:PORT --echo [...]   (an echo server behind
//                     the same delay/loss pipeline: a peer for the bed's tests)
//
// Every chunk read from one side is stamped with its arrival time and written
// to the other side no earlier than arrival + delay (one-way delay, applied in
// each direction). Reading and writing run on separate threads per direction,
// so the delay adds latency without serializing throughput: many chunks are
// in flight at once, as on a long link.
//
// Loss emulation: TCP hides packet loss from the application; what a lost
// segment costs the application is a stall until the retransmission arrives
// (one RTO, 200 ms minimum on Linux), during which later data waits too
// (head-of-line blocking). So with probability --loss a chunk is held back an
// extra --stall-ms, and since delivery stays in order every chunk behind it
// waits as well. Nothing is dropped or corrupted; the byte stream is intact.
//
// Bounded: at most --max-conns connections at once (further ones are accepted
// and closed at once), at most 4 MiB queued per direction (the reader stops
// reading when the queue is full, so backpressure reaches the sender). Exits 0
// on SIGTERM or SIGINT, printing its counters. Prints "listening on ADDR:PORT"
// once it accepts connections (port 0 picks a free port).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string listen = "127.0.0.1:0";
  std::string target;
  int delay_ms = 20;
  double loss = 0.0;
  int stall_ms = 200;
  int max_conns = 64;
  std::uint64_t seed = 0;
  bool echo = false;
};

std::atomic<int> g_active{0};
std::atomic<std::uint64_t> g_conns{0};
std::atomic<std::uint64_t> g_refused{0};
std::atomic<std::uint64_t> g_bytes{0};
std::atomic<std::uint64_t> g_chunks{0};
std::atomic<std::uint64_t> g_stalls{0};
int g_sigpipe[2] = {-1, -1};

void on_signal(int) {
  const char b = 1;
  [[maybe_unused]] ssize_t n = write(g_sigpipe[1], &b, 1);
}

bool split_addr(const std::string& s, sockaddr_in& out) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) {
    return false;
  }
  std::memset(&out, 0, sizeof(out));
  out.sin_family = AF_INET;
  const std::string host = s.substr(0, colon);
  char* end = nullptr;
  const long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) {
    return false;
  }
  out.sin_port = htons(static_cast<std::uint16_t>(port));
  return inet_pton(AF_INET, host.empty() ? "0.0.0.0" : host.c_str(), &out.sin_addr) == 1;
}

std::string addr_str(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

// One direction of a connection: a reader thread queues stamped chunks, a
// writer thread delivers each at its release time, in order.
class Pipe {
 public:
  Pipe(int from, int to, const Options& opt, std::uint64_t seed)
      : from_(from), to_(to), opt_(opt), rng_(seed) {}

  void run() {
    std::thread writer([this] { write_loop(); });
    read_loop();
    writer.join();
  }

 private:
  struct Chunk {
    Clock::time_point release;
    std::vector<char> data;  // empty: end of stream
  };
  static constexpr std::size_t kMaxQueued = 4u << 20;
  static constexpr std::size_t kChunk = 16u << 10;

  void read_loop() {
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    std::vector<char> buf(kChunk);
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return aborted_ || writer_failed_ || queued_ < kMaxQueued; });
        if (aborted_ || writer_failed_) {
          return;
        }
      }
      pollfd p{from_, POLLIN, 0};
      const int pr = poll(&p, 1, 200);
      if (pr == 0 || (pr < 0 && errno == EINTR)) {
        std::lock_guard lock(mu_);
        if (aborted_ || writer_failed_) {
          return;
        }
        continue;
      }
      const ssize_t n = pr < 0 ? -1 : ::read(from_, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      const auto now = Clock::now();
      Chunk c;
      c.release = now + std::chrono::milliseconds(opt_.delay_ms);
      if (n > 0) {
        c.data.assign(buf.begin(), buf.begin() + n);
        if (opt_.loss > 0 && coin(rng_) < opt_.loss) {
          c.release += std::chrono::milliseconds(opt_.stall_ms);
          g_stalls.fetch_add(1, std::memory_order_relaxed);
        }
      }
      std::lock_guard lock(mu_);
      // In order: a stalled chunk holds back everything behind it.
      if (c.release < last_release_) {
        c.release = last_release_;
      }
      last_release_ = c.release;
      queued_ += c.data.size();
      const bool eof = c.data.empty();
      q_.push_back(std::move(c));
      cv_.notify_all();
      if (eof) {
        return;  // n == 0 (EOF) or an error: the writer ends the stream
      }
    }
  }

  void write_loop() {
    for (;;) {
      Chunk c;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return aborted_ || !q_.empty(); });
        if (aborted_) {
          return;
        }
        const auto release = q_.front().release;
        if (cv_.wait_until(lock, release, [&] { return aborted_; })) {
          return;
        }
        c = std::move(q_.front());
        q_.pop_front();
        queued_ -= c.data.size();
        cv_.notify_all();
      }
      if (c.data.empty()) {
        ::shutdown(to_, SHUT_WR);
        return;
      }
      std::size_t off = 0;
      while (off < c.data.size()) {
        const ssize_t w = ::send(to_, c.data.data() + off, c.data.size() - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
          continue;
        }
        if (w <= 0) {
          std::lock_guard lock(mu_);
          writer_failed_ = true;
          ::shutdown(from_, SHUT_RD);
          cv_.notify_all();
          return;
        }
        off += static_cast<std::size_t>(w);
      }
      g_bytes.fetch_add(c.data.size(), std::memory_order_relaxed);
      g_chunks.fetch_add(1, std::memory_order_relaxed);
    }
  }

  int from_;
  int to_;
  const Options& opt_;
  std::mt19937_64 rng_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> q_;
  std::size_t queued_ = 0;
  Clock::time_point last_release_{};
  bool aborted_ = false;
  bool writer_failed_ = false;
};

void serve(int client, sockaddr_in target, const Options& opt, std::uint64_t seed) {
  if (opt.echo) {
    Pipe back(client, client, opt, seed);
    back.run();
    ::close(client);
    g_active.fetch_sub(1);
    return;
  }
  const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = server >= 0;
  if (ok) {
    // Bounded connect: 5 s.
    timeval tv{5, 0};
    setsockopt(server, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    ok = ::connect(server, reinterpret_cast<sockaddr*>(&target), sizeof(target)) == 0;
    timeval zero{0, 0};
    setsockopt(server, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
  }
  if (ok) {
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    Pipe up(client, server, opt, seed);
    Pipe down(server, client, opt, seed ^ 0x9e3779b97f4a7c15ULL);
    std::thread t([&] { down.run(); });
    up.run();
    t.join();
  } else {
    std::fprintf(stderr, "lossy_proxy: connect to %s: %s\n", addr_str(target).c_str(),
                 std::strerror(errno));
  }
  if (server >= 0) {
    ::close(server);
  }
  ::close(client);
  g_active.fetch_sub(1);
}

int usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s --listen ADDR:PORT (--target ADDR:PORT | --echo) [--delay-ms MS] [--loss P]\n"
      "          [--stall-ms MS] [--max-conns N] [--seed N]\n",
      argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--echo") {
      opt.echo = true;
      continue;
    }
    if (i + 1 >= argc) {
      return usage(argv[0]);
    }
    const char* v = argv[++i];
    if (a == "--listen") {
      opt.listen = v;
    } else if (a == "--target") {
      opt.target = v;
    } else if (a == "--delay-ms") {
      opt.delay_ms = std::atoi(v);
    } else if (a == "--loss") {
      opt.loss = std::atof(v);
    } else if (a == "--stall-ms") {
      opt.stall_ms = std::atoi(v);
    } else if (a == "--max-conns") {
      opt.max_conns = std::atoi(v);
    } else if (a == "--seed") {
      opt.seed = std::strtoull(v, nullptr, 10);
    } else {
      return usage(argv[0]);
    }
  }
  sockaddr_in listen_addr{};
  sockaddr_in target{};
  if (!split_addr(opt.listen, listen_addr) || (!opt.echo && !split_addr(opt.target, target)) ||
      opt.delay_ms < 0 || opt.stall_ms < 0 || opt.loss < 0 || opt.loss > 1 || opt.max_conns <= 0) {
    return usage(argv[0]);
  }
  if (pipe2(g_sigpipe, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&listen_addr), sizeof(listen_addr)) != 0 ||
      ::listen(lfd, 128) != 0) {
    std::fprintf(stderr, "lossy_proxy: listen on %s: %s\n", opt.listen.c_str(),
                 std::strerror(errno));
    return 1;
  }
  socklen_t len = sizeof(listen_addr);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&listen_addr), &len);
  std::printf("listening on %s -> %s (delay %d ms, loss %.4f, stall %d ms)\n",
              addr_str(listen_addr).c_str(), opt.echo ? "echo" : addr_str(target).c_str(),
              opt.delay_ms, opt.loss, opt.stall_ms);
  std::fflush(stdout);

  std::uint64_t seed = opt.seed != 0 ? opt.seed : std::random_device{}();
  for (;;) {
    pollfd p[2] = {{lfd, POLLIN, 0}, {g_sigpipe[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if (p[1].revents != 0) {
      break;
    }
    if ((p[0].revents & POLLIN) == 0) {
      continue;
    }
    const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      continue;
    }
    if (g_active.load() >= opt.max_conns) {
      g_refused.fetch_add(1);
      ::close(c);
      continue;
    }
    g_active.fetch_add(1);
    g_conns.fetch_add(1);
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    std::thread(serve, c, target, std::cref(opt), seed).detach();
  }
  std::printf(
      "lossy_proxy: exit: %llu connections (%llu refused), %llu bytes in %llu chunks, "
      "%llu stalls\n",
      static_cast<unsigned long long>(g_conns.load()),
      static_cast<unsigned long long>(g_refused.load()),
      static_cast<unsigned long long>(g_bytes.load()),
      static_cast<unsigned long long>(g_chunks.load()),
      static_cast<unsigned long long>(g_stalls.load()));
  std::fflush(stdout);
  std::_Exit(0);  // connection threads are detached; end them with the process
}
