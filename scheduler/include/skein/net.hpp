// skein::net: TCP whose blocking calls park the goroutine, not the thread.
//
// Goroutine-per-connection servers, as in Go:
//
//   skein::net::TcpListener ln = skein::net::TcpListener::listen("127.0.0.1", 0);
//   for (;;) {
//     skein::net::TcpStream conn = ln.accept();
//     skein::go([c = std::move(conn)]() mutable {
//       char buf[4096];
//       std::error_code ec;
//       while (std::size_t n = c.read_some(buf, sizeof buf, ec)) c.write_all(buf, n, ec);
//     });
//   }
//
// Sockets are non-blocking; an operation that would block arms a readiness
// wait in the runtime's netpoller (Asio, hidden here) and parks. Deadlines
// work as in Go's net.Conn: set_read_deadline / set_write_deadline make a
// parked operation fail with std::errc::timed_out once the time passes.
// Every operation comes in two forms: with a std::error_code& (no throw), or
// throwing std::system_error. Addresses are numeric IPv4/IPv6 literals or
// "localhost". A socket belongs to the runtime it was created on and must not
// outlive it; one goroutine at a time may read, and one may write.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

namespace skein::net {

namespace detail {
struct Socket;
struct Acceptor;
}  // namespace detail

using Clock = std::chrono::steady_clock;

class TcpStream {
 public:
  TcpStream();
  TcpStream(TcpStream&&) noexcept;
  TcpStream& operator=(TcpStream&&) noexcept;
  ~TcpStream();

  static TcpStream connect(const std::string& host, std::uint16_t port, std::error_code& ec,
                           Clock::time_point deadline = Clock::time_point::max());
  static TcpStream connect(const std::string& host, std::uint16_t port,
                           Clock::time_point deadline = Clock::time_point::max());

  // Reads at least one byte; 0 with ec == asio's eof (value 2) at end of stream.
  std::size_t read_some(void* buf, std::size_t len, std::error_code& ec);
  // Reads exactly len bytes unless an error (or end of stream) comes first.
  std::size_t read_exact(void* buf, std::size_t len, std::error_code& ec);
  std::size_t write_all(const void* buf, std::size_t len, std::error_code& ec);
  std::size_t read_some(void* buf, std::size_t len);
  void read_exact(void* buf, std::size_t len);
  void write_all(const void* buf, std::size_t len);

  void set_read_deadline(Clock::time_point t);
  void set_write_deadline(Clock::time_point t);
  void shutdown_write();
  void close();
  bool is_open() const;
  std::uint16_t local_port() const;
  std::uint16_t remote_port() const;

 private:
  friend class TcpListener;
  explicit TcpStream(std::unique_ptr<detail::Socket> s);
  std::unique_ptr<detail::Socket> s_;
};

class TcpListener {
 public:
  TcpListener();
  TcpListener(TcpListener&&) noexcept;
  TcpListener& operator=(TcpListener&&) noexcept;
  ~TcpListener();

  // port 0 picks an ephemeral port; see port().
  static TcpListener listen(const std::string& host, std::uint16_t port, std::error_code& ec,
                            int backlog = 4096);
  static TcpListener listen(const std::string& host, std::uint16_t port, int backlog = 4096);

  TcpStream accept(std::error_code& ec);
  TcpStream accept();
  void set_deadline(Clock::time_point t);
  std::uint16_t port() const;
  void close();

 private:
  std::unique_ptr<detail::Acceptor> a_;
};

}  // namespace skein::net
