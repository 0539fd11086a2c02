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
#include "wire/frame.hpp"

namespace skein::node {
namespace {

constexpr int kMaxEvents = 32;
constexpr std::size_t kReadChunk = 64 * 1024;
// Reads per readiness event, so one chatty worker cannot starve the others
// (epoll is level-triggered: the rest is read on the next round).
constexpr int kReadsPerWakeup = 8;
constexpr int kListenBacklog = 64;
// A connection that has not said hello may not buffer more than this.
constexpr std::size_t kMaxPreHelloBytes = 4096;
// The written prefix of an outbound buffer is compacted past this size.
constexpr std::size_t kCompactBytes = 256 * 1024;
// An idle connection keeps at most this much outbound buffer capacity.
constexpr std::size_t kKeepCapacityBytes = 1 << 20;

void append_frame_header(std::string& out, std::size_t n) {
  const char header[kFrameHeaderBytes] = {
      static_cast<char>((n >> 24) & 0xff), static_cast<char>((n >> 16) & 0xff),
      static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)};
  out.append(header, kFrameHeaderBytes);
}

}  // namespace

struct WorkerServer::Conn {
  UniqueFd fd;
  pid_t peer_pid = 0;
  FrameReader reader;
  bool hello_done = false;
  WorkerInfo info;
  skein::v1::JobStats stats;  // job_id/pid/driver set at hello
  bool has_sample = false;
};

namespace {

WorkerServerHandlers only_validate(WorkerServer::Validator validate) {
  WorkerServerHandlers h;
  h.validate = std::move(validate);
  return h;
}

}  // namespace

WorkerServer::WorkerServer(std::string socket_path, std::chrono::milliseconds stats_interval,
                           Validator validate)
    : WorkerServer(std::move(socket_path), stats_interval, only_validate(std::move(validate))) {}

WorkerServer::WorkerServer(std::string socket_path, std::chrono::milliseconds stats_interval,
                           WorkerServerHandlers handlers, std::size_t max_queued_bytes)
    : path_(std::move(socket_path)),
      stats_interval_(stats_interval),
      handlers_(std::move(handlers)),
      max_queued_bytes_(max_queued_bytes) {}

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
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    out_.clear();
  }
  out_cv_.notify_all();
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

std::size_t WorkerServer::queued_bytes(std::uint64_t worker_id) const {
  std::lock_guard<std::mutex> lock(out_mu_);
  auto it = out_.find(worker_id);
  return it == out_.end() ? 0 : it->second.pending();
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

bool WorkerServer::is_ready() const {
  return !handlers_.upstream_ready || handlers_.upstream_ready();
}

void WorkerServer::update_events_locked(const Outbound& o) {
  epoll_event ev{};
  ev.events = EPOLLRDHUP | (o.paused ? 0u : static_cast<std::uint32_t>(EPOLLIN)) |
              (o.want_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  ev.data.fd = o.fd;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, o.fd, &ev);
}

bool WorkerServer::flush_locked(Outbound& o) {
  while (o.pending() > 0) {
    const ssize_t w = ::send(o.fd, o.buf.data() + o.off, o.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      o.off += static_cast<std::size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    }
    // The peer is gone; the read side sees the end and drops the connection.
    o.buf.clear();
    o.off = 0;
    return false;
  }
  if (o.pending() == 0) {
    if (o.buf.capacity() > kKeepCapacityBytes) {
      std::string().swap(o.buf);  // a burst is over: give its memory back
    }
    o.buf.clear();
    o.off = 0;
  } else if (o.off > kCompactBytes) {
    o.buf.erase(0, o.off);
    o.off = 0;
  }
  const bool want = o.pending() > 0;
  if (want != o.want_out) {
    o.want_out = want;
    update_events_locked(o);
  }
  return true;
}

absl::Status WorkerServer::send(std::uint64_t worker_id, const skein::v1::AgentToWorker& msg,
                                std::chrono::steady_clock::time_point deadline) {
  const std::size_t size = msg.ByteSizeLong();
  if (size > kMaxFrameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame of ", size, " bytes exceeds the worker frame limit"));
  }
  const bool may_wait = std::this_thread::get_id() != loop_id_;
  std::unique_lock<std::mutex> lock(out_mu_);
  auto room = [&] {
    auto it = out_.find(worker_id);
    return stopping_ || it == out_.end() || it->second.pending() < max_queued_bytes_;
  };
  if (may_wait && !room()) {
    out_cv_.wait_until(lock, deadline, room);
  }
  if (stopping_) {
    return absl::UnavailableError("the worker socket is shutting down");
  }
  auto it = out_.find(worker_id);
  if (it == out_.end()) {
    return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is not connected"));
  }
  Outbound& o = it->second;
  if (may_wait && o.pending() >= max_queued_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("worker ", worker_id, " is not reading: ", o.pending(), " bytes queued"));
  }
  append_frame_header(o.buf, size);
  if (!msg.AppendToString(&o.buf)) {
    o.buf.resize(o.buf.size() - kFrameHeaderBytes);
    return absl::InternalError("could not serialize a frame for a worker");
  }
  if (!o.want_out && !flush_locked(o)) {
    return absl::UnavailableError(absl::StrCat("worker ", worker_id, " closed its connection"));
  }
  return absl::OkStatus();
}

void WorkerServer::resume_paused() {
  if (paused_ == 0 || !is_ready()) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    for (auto& [id, o] : out_) {
      if (o.paused) {
        o.paused = false;
        update_events_locked(o);
      }
    }
  }
  paused_ = 0;
  // Frames already read before the pause are still in the readers; reading
  // resumes on the next readiness event.
}

void WorkerServer::loop() {
  loop_id_ = std::this_thread::get_id();
  epoll_event events[kMaxEvents];
  while (!stopping_) {
    const int timeout = paused_ > 0 ? static_cast<int>(kPausedPollInterval.count()) : -1;
    const int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, timeout);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      const std::uint32_t ev = events[i].events;
      if (fd == wake_.get()) {
        continue;
      }
      if (fd == listen_.get()) {
        accept_all();
        continue;
      }
      if (ev & EPOLLOUT) {
        on_writable(fd);
      }
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        on_readable(fd, (ev & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) != 0);
      }
    }
    resume_paused();
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
  auto it = conns_.find(fd);
  if (it == conns_.end()) {
    return;
  }
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  std::unique_ptr<Conn> c = std::move(it->second);
  conns_.erase(it);
  if (c->hello_done) {
    {
      std::lock_guard<std::mutex> lock(out_mu_);
      auto o = out_.find(c->info.worker_id);
      if (o != out_.end()) {
        if (o->second.paused) {
          --paused_;
        }
        out_.erase(o);
      }
    }
    out_cv_.notify_all();  // a sender waiting for room learns it is gone
  }
  c->fd.reset();  // only now: no other thread can reach the fd any more
  publish();
  if (c->hello_done && handlers_.gone) {
    handlers_.gone(c->info);
  }
}

void WorkerServer::on_writable(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end() || !it->second->hello_done) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    auto o = out_.find(it->second->info.worker_id);
    if (o == out_.end()) {
      return;
    }
    flush_locked(o->second);
  }
  out_cv_.notify_all();
}

void WorkerServer::on_hello(Conn& c, const skein::v1::WorkerHello& hello) {
  c.hello_done = true;
  c.info.worker_id = next_worker_id_++;
  c.info.job_id = hello.job_id();
  c.info.pid = c.peer_pid;
  c.info.role = hello.role();
  c.stats.set_job_id(hello.job_id());
  c.stats.set_pid(c.peer_pid);
  c.stats.set_driver(hello.role() != skein::v1::WORKER_ROLE_TASK);
  skein::v1::AgentToWorker ack;
  ack.mutable_hello_ack()->set_stats_interval_ms(
      static_cast<std::uint32_t>(stats_interval_.count()));
  ack.mutable_hello_ack()->set_worker_id(c.info.worker_id);
  if (handlers_.node_id) {
    ack.mutable_hello_ack()->set_node_id(handlers_.node_id());
  }
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    Outbound& o = out_[c.info.worker_id];
    o.fd = c.fd.get();
  }
  // Through the outbound path, so the ack precedes anything a handler sends.
  [[maybe_unused]] absl::Status s = send(c.info.worker_id, ack, {});
  if (handlers_.hello) {
    handlers_.hello(c.info);
  }
}

void WorkerServer::on_frame(Conn& c, skein::v1::WorkerToAgent& msg) {
  switch (msg.msg_case()) {
    case skein::v1::WorkerToAgent::kStats:
      *c.stats.mutable_sched() = std::move(*msg.mutable_stats()->mutable_sched());
      c.has_sample = true;
      publish();
      break;
    case skein::v1::WorkerToAgent::kTasks: {
      skein::v1::TaskBatch& batch = *msg.mutable_tasks();
      if (batch.tasks_size() == 0 || !handlers_.tasks) {
        break;
      }
      // The validated identity of this connection, whatever the worker wrote.
      batch.set_job_id(c.info.job_id);
      batch.mutable_owner()->set_node_id(handlers_.node_id ? handlers_.node_id() : "");
      batch.mutable_owner()->set_worker_id(c.info.worker_id);
      handlers_.tasks(std::move(batch));
      break;
    }
    case skein::v1::WorkerToAgent::kResults: {
      skein::v1::ResultBatch& batch = *msg.mutable_results();
      if (batch.results_size() == 0 || !handlers_.results) {
        break;
      }
      if (batch.owner().node_id().empty() || batch.owner().worker_id() == 0) {
        logger("node")->warn("worker pid {} (job {}) sent {} result(s) without an owner; dropped",
                             c.peer_pid, c.info.job_id, batch.results_size());
        break;
      }
      batch.set_job_id(c.info.job_id);
      handlers_.results(c.info, std::move(batch));
      break;
    }
    case skein::v1::WorkerToAgent::kWgDeltas: {
      skein::v1::WaitGroupDeltaBatch& batch = *msg.mutable_wg_deltas();
      if (batch.deltas_size() == 0 || !handlers_.wg_deltas) {
        break;
      }
      if (batch.owner().node_id().empty() || batch.owner().worker_id() == 0) {
        logger("node")->warn(
            "worker pid {} (job {}) sent {} wait-group delta(s) without an owner; dropped",
            c.peer_pid, c.info.job_id, batch.deltas_size());
        break;
      }
      // The job is this connection's, whatever the worker wrote.
      batch.set_job_id(c.info.job_id);
      handlers_.wg_deltas(std::move(batch));
      break;
    }
    default:
      break;  // a hello twice, or a newer worker: nothing to do
  }
}

void WorkerServer::on_readable(int fd, bool hangup) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) {
    return;
  }
  Conn& c = *it->second;
  if (c.hello_done && !hangup && !is_ready()) {
    // The relay upstream is full: leave the bytes in the socket, so the
    // worker blocks in write() instead of the agent buffering them.
    std::lock_guard<std::mutex> lock(out_mu_);
    auto o = out_.find(c.info.worker_id);
    if (o != out_.end() && !o->second.paused) {
      o->second.paused = true;
      update_events_locked(o->second);
      ++paused_;
    }
    return;
  }
  char buf[kReadChunk];
  for (int round = 0; round < kReadsPerWakeup; ++round) {
    ssize_t r = ::read(fd, buf, sizeof(buf));
    if (r == 0) {
      drop(fd);
      return;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        return;
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
            !handlers_.validate(msg.hello().job_id(), c.peer_pid)) {
          logger("node")->warn("rejected worker connection from pid {} (job {})", c.peer_pid,
                               msg.has_hello() ? msg.hello().job_id() : 0);
          drop(fd);
          return;
        }
        on_hello(c, msg.hello());
        publish();
      } else {
        on_frame(c, msg);
      }
    }
    if (static_cast<std::size_t>(r) < sizeof(buf)) {
      return;  // drained
    }
  }
}

}  // namespace skein::node
