// skein::net on the netpoller: non-blocking sockets, park on would-block.
//
// A wait is a shared IoWait: the Asio handler and the deadline timer race to
// flip `state` from 0 to 1, and only the winner calls ready(), so a goroutine
// is woken exactly once. The wait is armed from park's unlock callback (on
// g0, after the goroutine's context is saved). Asio socket objects are not
// safe for concurrent use, yet Go lets one goroutine close a socket another
// is blocked on: so every use of a socket object (an I/O call, arming a wait,
// cancel, close) happens under that socket's spin lock `mu`, held for one
// non-blocking call at a time. The woken goroutine takes it before cleaning
// up, so its cleanup never overlaps the arming.
#include "skein/net.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <asio/ip/tcp.hpp>
#include <thread>

#include "current.hpp"
#include "netpoll.hpp"
#include "sched.hpp"
#include "skein/detail/park.hpp"
#include "skein/detail/timer.hpp"

namespace skein::net {

namespace detail {
struct Socket {
  explicit Socket(skein::detail::Sched* s) : sched(s), sock(s->netpoll().io()) {}
  skein::detail::Sched* sched;
  skein::detail::SpinLock mu;  // guards every use of sock
  asio::ip::tcp::socket sock;
  Clock::time_point read_deadline = Clock::time_point::max();
  Clock::time_point write_deadline = Clock::time_point::max();
};
struct Acceptor {
  explicit Acceptor(skein::detail::Sched* s) : sched(s), acc(s->netpoll().io()) {}
  skein::detail::Sched* sched;
  skein::detail::SpinLock mu;  // guards every use of acc
  asio::ip::tcp::acceptor acc;
  Clock::time_point deadline = Clock::time_point::max();
};
}  // namespace detail

namespace {

using skein::detail::G;
using skein::detail::Sched;
using skein::detail::TimerNode;

constexpr std::int64_t kNoDeadline = -1;

struct IoWait {
  std::atomic<int> state{0};  // 0: parked; 1: woken (by the handler or the timer)
  bool timed_out = false;     // set by the timer before ready(): ordered by park/ready
  G* g = nullptr;
  TimerNode timer;
  std::atomic<bool> fire_done{false};
};

void fire_timeout(TimerNode* t) {
  auto* w = static_cast<IoWait*>(t->arg);
  if (w->state.exchange(1, std::memory_order_acq_rel) == 0) {
    w->timed_out = true;
    skein::detail::ready(w->g);
  }
  w->fire_done.store(true, std::memory_order_release);  // last touch of w
}

template <class S>
struct Arm {
  S* s;
  skein::detail::SpinLock* mu;
  typename S::wait_type type;
  std::shared_ptr<IoWait> w;
  std::int64_t deadline_ns;
  Sched* sched;
};

template <class S>
void arm(void* p) {
  // Copy out first: once armed, the goroutine may resume and leave.
  Arm<S> a = *static_cast<Arm<S>*>(p);
  a.mu->lock();
  a.sched->netpoll().waiters.fetch_add(1, std::memory_order_acq_rel);
  a.s->async_wait(a.type, [w = a.w, sched = a.sched](const std::error_code&) {
    sched->netpoll().waiters.fetch_sub(1, std::memory_order_acq_rel);
    if (w->state.exchange(1, std::memory_order_acq_rel) == 0) {
      skein::detail::ready(w->g);
    }
  });
  if (a.deadline_ns != kNoDeadline) {
    a.w->timer.when_ns = a.deadline_ns;
    a.w->timer.fire = &fire_timeout;
    a.w->timer.arg = a.w.get();
    a.sched->add_timer(&a.w->timer);
  }
  a.mu->unlock();
}

std::int64_t to_ns(Clock::time_point t) {
  if (t == Clock::time_point::max()) {
    return kNoDeadline;
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Waits until s is ready for `type` or the deadline passes. Called and
// returns with mu held (it is released while parked).
template <class S>
std::error_code wait(Sched* sched, S& s, skein::detail::SpinLock& mu, typename S::wait_type type,
                     Clock::time_point deadline) {
  const std::int64_t deadline_ns = to_ns(deadline);
  if (deadline_ns != kNoDeadline && deadline_ns <= skein::detail::steady_now_ns()) {
    return std::make_error_code(std::errc::timed_out);
  }
  G* g = skein::detail::current_running_g();
  if (g == nullptr) {
    // A plain thread: block it in poll(2).
    pollfd pfd{s.native_handle(), static_cast<short>(type == S::wait_read ? POLLIN : POLLOUT), 0};
    int timeout_ms = -1;
    if (deadline_ns != kNoDeadline) {
      timeout_ms = static_cast<int>((deadline_ns - skein::detail::steady_now_ns()) / 1'000'000 + 1);
    }
    mu.unlock();
    int r = ::poll(&pfd, 1, timeout_ms);
    mu.lock();
    if (r == 0) {
      return std::make_error_code(std::errc::timed_out);
    }
    return r < 0 ? std::error_code(errno, std::system_category()) : std::error_code();
  }
  auto w = std::make_shared<IoWait>();
  w->g = g;
  Arm<S> a{&s, &mu, type, w, deadline_ns, sched};
  mu.unlock();
  skein::detail::set_park_external(false);
  skein::detail::park(&arm<S>, &a, skein::detail::WaitReason::kIO);
  mu.lock();  // arming has finished
  if (deadline_ns != kNoDeadline && !sched->del_timer(&w->timer)) {
    while (!w->fire_done.load(std::memory_order_acquire)) {
      __builtin_ia32_pause();  // the timer is firing right now; it is short
    }
  }
  const bool timed_out = w->timed_out;
  if (timed_out) {
    std::error_code ignored;
    s.cancel(ignored);  // its handler runs later, finds state == 1, does nothing
  }
  return timed_out ? std::make_error_code(std::errc::timed_out) : std::error_code();
}

bool would_block(const std::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

asio::ip::address parse_host(const std::string& host, std::error_code& ec) {
  if (host == "localhost") {
    return asio::ip::address_v4::loopback();
  }
  return asio::ip::make_address(host, ec);
}

Sched* caller_sched() { return &skein::detail::sched_for_caller(); }

void throw_if(const std::error_code& ec, const char* what) {
  if (ec) {
    throw std::system_error(ec, what);
  }
}

}  // namespace

// ---- TcpStream -------------------------------------------------------------

TcpStream::TcpStream() = default;
TcpStream::TcpStream(std::unique_ptr<detail::Socket> s) : s_(std::move(s)) {}
TcpStream::TcpStream(TcpStream&&) noexcept = default;
TcpStream& TcpStream::operator=(TcpStream&&) noexcept = default;
TcpStream::~TcpStream() = default;

TcpStream TcpStream::connect(const std::string& host, std::uint16_t port, std::error_code& ec,
                             Clock::time_point deadline) {
  ec.clear();
  asio::ip::address addr = parse_host(host, ec);
  if (ec) {
    return TcpStream();
  }
  auto s = std::make_unique<detail::Socket>(caller_sched());
  asio::ip::tcp::endpoint ep(addr, port);
  {
    std::lock_guard lock(s->mu);
    s->sock.open(ep.protocol(), ec);
    if (!ec) {
      s->sock.non_blocking(true, ec);
    }
    if (!ec) {
      s->sock.connect(ep, ec);
    }
    if (ec == asio::error::in_progress || would_block(ec)) {
      ec = wait(s->sched, s->sock, s->mu, asio::ip::tcp::socket::wait_write, deadline);
      if (!ec) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(s->sock.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
        ec = err != 0 ? std::error_code(err, std::system_category()) : std::error_code();
      }
    }
    if (!ec) {
      std::error_code ignored;  // Nagle off is an optimisation, not a requirement
      s->sock.set_option(asio::ip::tcp::no_delay(true), ignored);
    }
  }
  return ec ? TcpStream() : TcpStream(std::move(s));
}

TcpStream TcpStream::connect(const std::string& host, std::uint16_t port,
                             Clock::time_point deadline) {
  std::error_code ec;
  TcpStream s = connect(host, port, ec, deadline);
  throw_if(ec, "skein::net::TcpStream::connect");
  return s;
}

std::size_t TcpStream::read_some(void* buf, std::size_t len, std::error_code& ec) {
  if (!s_) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  std::lock_guard lock(s_->mu);
  for (;;) {
    std::size_t n = s_->sock.read_some(asio::buffer(buf, len), ec);
    if (!would_block(ec)) {
      return n;
    }
    ec = wait(s_->sched, s_->sock, s_->mu, asio::ip::tcp::socket::wait_read, s_->read_deadline);
    if (ec) {
      return 0;
    }
  }
}

std::size_t TcpStream::read_exact(void* buf, std::size_t len, std::error_code& ec) {
  std::size_t done = 0;
  ec.clear();
  while (done < len && !ec) {
    done += read_some(static_cast<char*>(buf) + done, len - done, ec);
  }
  return done;
}

std::size_t TcpStream::write_all(const void* buf, std::size_t len, std::error_code& ec) {
  if (!s_) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  std::size_t done = 0;
  ec.clear();
  std::lock_guard lock(s_->mu);
  while (done < len) {
    done += s_->sock.write_some(asio::buffer(static_cast<const char*>(buf) + done, len - done), ec);
    if (would_block(ec)) {
      ec = wait(s_->sched, s_->sock, s_->mu, asio::ip::tcp::socket::wait_write, s_->write_deadline);
    }
    if (ec) {
      break;
    }
  }
  return done;
}

std::size_t TcpStream::read_some(void* buf, std::size_t len) {
  std::error_code ec;
  std::size_t n = read_some(buf, len, ec);
  if (ec && ec != asio::error::eof) {
    throw_if(ec, "skein::net::TcpStream::read_some");
  }
  return n;
}

void TcpStream::read_exact(void* buf, std::size_t len) {
  std::error_code ec;
  read_exact(buf, len, ec);
  throw_if(ec, "skein::net::TcpStream::read_exact");
}

void TcpStream::write_all(const void* buf, std::size_t len) {
  std::error_code ec;
  write_all(buf, len, ec);
  throw_if(ec, "skein::net::TcpStream::write_all");
}

void TcpStream::set_read_deadline(Clock::time_point t) { s_->read_deadline = t; }
void TcpStream::set_write_deadline(Clock::time_point t) { s_->write_deadline = t; }

void TcpStream::shutdown_write() {
  std::error_code ignored;
  std::lock_guard lock(s_->mu);
  s_->sock.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void TcpStream::close() {
  if (s_) {
    std::error_code ignored;
    std::lock_guard lock(s_->mu);
    s_->sock.close(ignored);
  }
}

bool TcpStream::is_open() const { return s_ && s_->sock.is_open(); }

std::uint16_t TcpStream::local_port() const {
  std::error_code ec;
  return s_ ? s_->sock.local_endpoint(ec).port() : 0;
}

std::uint16_t TcpStream::remote_port() const {
  std::error_code ec;
  return s_ ? s_->sock.remote_endpoint(ec).port() : 0;
}

// ---- TcpListener -----------------------------------------------------------

TcpListener::TcpListener() = default;
TcpListener::TcpListener(TcpListener&&) noexcept = default;
TcpListener& TcpListener::operator=(TcpListener&&) noexcept = default;
TcpListener::~TcpListener() = default;

TcpListener TcpListener::listen(const std::string& host, std::uint16_t port, std::error_code& ec,
                                int backlog) {
  ec.clear();
  asio::ip::address addr = parse_host(host, ec);
  if (ec) {
    return TcpListener();
  }
  auto a = std::make_unique<detail::Acceptor>(caller_sched());
  asio::ip::tcp::endpoint ep(addr, port);
  a->acc.open(ep.protocol(), ec);
  if (!ec) {
    a->acc.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    a->acc.bind(ep, ec);
  }
  if (!ec) {
    a->acc.listen(backlog, ec);
  }
  if (!ec) {
    a->acc.non_blocking(true, ec);
  }
  if (ec) {
    return TcpListener();
  }
  TcpListener l;
  l.a_ = std::move(a);
  return l;
}

TcpListener TcpListener::listen(const std::string& host, std::uint16_t port, int backlog) {
  std::error_code ec;
  TcpListener l = listen(host, port, ec, backlog);
  throw_if(ec, "skein::net::TcpListener::listen");
  return l;
}

TcpStream TcpListener::accept(std::error_code& ec) {
  if (!a_) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return TcpStream();
  }
  auto s = std::make_unique<detail::Socket>(a_->sched);
  {
    std::lock_guard lock(a_->mu);
    for (;;) {
      a_->acc.accept(s->sock, ec);
      if (!would_block(ec)) {
        break;
      }
      ec = wait(a_->sched, a_->acc, a_->mu, asio::ip::tcp::acceptor::wait_read, a_->deadline);
      if (ec) {
        return TcpStream();
      }
    }
  }
  if (ec) {
    return TcpStream();
  }
  s->sock.non_blocking(true, ec);
  if (!ec) {
    s->sock.set_option(asio::ip::tcp::no_delay(true), ec);
  }
  return ec ? TcpStream() : TcpStream(std::move(s));
}

TcpStream TcpListener::accept() {
  std::error_code ec;
  TcpStream s = accept(ec);
  throw_if(ec, "skein::net::TcpListener::accept");
  return s;
}

void TcpListener::set_deadline(Clock::time_point t) { a_->deadline = t; }

std::uint16_t TcpListener::port() const {
  std::error_code ec;
  return a_ ? a_->acc.local_endpoint(ec).port() : 0;
}

void TcpListener::close() {
  if (a_) {
    std::error_code ignored;
    std::lock_guard lock(a_->mu);
    a_->acc.close(ignored);
  }
}

}  // namespace skein::net
