#include "agent/worker_server.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "skein/common/log.hpp"
#include "skein/v1/worker.pb.h"
#include "wire/frame.hpp"

namespace skein::node {
namespace {

constexpr int kMaxEvents = 32;
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kListenBacklog = 64;
// A connection that has not said hello may not buffer more than this.
constexpr std::size_t kMaxPreHelloBytes = 4096;

}  // namespace

struct WorkerServer::Conn {
  UniqueFd fd;
  pid_t peer_pid = 0;
  FrameReader reader;
  bool hello_done = false;
  skein::v1::JobStats stats;  // job_id/pid/driver set at hello
  bool has_sample = false;
};

WorkerServer::WorkerServer(std::string socket_path, std::chrono::milliseconds stats_interval,
                           Validator validate)
    : path_(std::move(socket_path)),
      stats_interval_(stats_interval),
      validate_(std::move(validate)) {}

WorkerServer::~WorkerServer() { stop(); }

absl::Status WorkerServer::start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("worker socket path is longer than ",
                                                   sizeof(addr.sun_path) - 1,
                                                   " bytes; use a shorter --work-dir: ", path_));
  }
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  ::unlink(path_.c_str());  // a stale socket from a previous agent
  listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_) {
    return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  // Tighten the umask window: the socket must never be connectable by others.
  const mode_t old = ::umask(0077);
  const int rc = ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("bind ", path_, ": ", std::strerror(errno)));
  }
  if (::listen(listen_.get(), kListenBacklog) != 0) {
    return absl::InternalError(absl::StrCat("listen ", path_, ": ", std::strerror(errno)));
  }
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  for (int fd : {listen_.get(), wake_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }
  thread_ = std::thread([this] { loop(); });
  return absl::OkStatus();
}

void WorkerServer::stop() {
  if (!thread_.joinable()) {
    return;
  }
  stopping_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_.get(), &one, sizeof(one));
  thread_.join();
  conns_.clear();
  listen_.reset();
  ::unlink(path_.c_str());
}

std::vector<skein::v1::JobStats> WorkerServer::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return published_;
}

std::size_t WorkerServer::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_;
}

void WorkerServer::publish() {
  std::vector<skein::v1::JobStats> out;
  std::size_t n = 0;
  for (const auto& [fd, c] : conns_) {
    if (c->hello_done) {
      ++n;
      if (c->has_sample) {
        out.push_back(c->stats);
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  published_ = std::move(out);
  connected_ = n;
}

void WorkerServer::loop() {
  epoll_event events[kMaxEvents];
  while (!stopping_) {
    const int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_.get()) {
        continue;
      }
      if (fd == listen_.get()) {
        accept_all();
      } else {
        on_readable(fd);
      }
    }
  }
}

void WorkerServer::accept_all() {
  while (true) {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      return;  // EAGAIN, or a transient error: the next readiness retries
    }
    auto c = std::make_unique<Conn>();
    c->fd.reset(fd);
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      continue;  // c closes fd
    }
    c->peer_pid = cred.pid;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
    conns_.emplace(fd, std::move(c));
  }
}

void WorkerServer::drop(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  conns_.erase(fd);
  publish();
}

void WorkerServer::on_readable(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) {
    return;
  }
  Conn& c = *it->second;
  char buf[kReadChunk];
  bool changed = false;
  while (true) {
    ssize_t r = ::read(fd, buf, sizeof(buf));
    if (r == 0) {
      drop(fd);
      return;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        break;
      }
      drop(fd);
      return;
    }
    c.reader.feed(std::string_view(buf, static_cast<std::size_t>(r)));
    if (!c.hello_done && c.reader.buffered() > kMaxPreHelloBytes) {
      drop(fd);
      return;
    }
    while (true) {
      auto frame = c.reader.next();
      if (!frame.ok()) {
        logger("node")->warn("worker pid {}: {}; disconnecting", c.peer_pid,
                             std::string(frame.status().message()));
        drop(fd);
        return;
      }
      if (!frame->has_value()) {
        break;
      }
      skein::v1::WorkerToAgent msg;
      if (!msg.ParseFromString(**frame)) {
        drop(fd);
        return;
      }
      if (!c.hello_done) {
        if (!msg.has_hello() || msg.hello().job_id() == 0 ||
            !validate_(msg.hello().job_id(), c.peer_pid)) {
          logger("node")->warn("rejected worker connection from pid {} (job {})", c.peer_pid,
                               msg.has_hello() ? msg.hello().job_id() : 0);
          drop(fd);
          return;
        }
        c.hello_done = true;
        c.stats.set_job_id(msg.hello().job_id());
        c.stats.set_pid(c.peer_pid);
        c.stats.set_driver(msg.hello().role() != skein::v1::WORKER_ROLE_TASK);
        skein::v1::AgentToWorker ack;
        ack.mutable_hello_ack()->set_stats_interval_ms(
            static_cast<std::uint32_t>(stats_interval_.count()));
        // A fresh socket's send buffer always has room for this small frame.
        if (!write_frame(fd, ack.SerializeAsString()).ok()) {
          drop(fd);
          return;
        }
        changed = true;
      } else if (msg.has_stats()) {
        *c.stats.mutable_sched() = msg.stats().sched();
        c.has_sample = true;
        changed = true;
      }
    }
  }
  if (changed) {
    publish();
  }
}

}  // namespace skein::node
