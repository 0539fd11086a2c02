#include "worker/agent_link.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "wire/frame.hpp"
#include "worker/stats_proto.hpp"

namespace skein::node {
namespace {

// The agent answers a hello at once; a slow answer means something is wrong
// and the program should get on with its work instead of waiting.
constexpr auto kHelloTimeout = std::chrono::seconds(5);
constexpr const char* kSdkVersion = "0.2.0";

void set_receive_timeout(int fd, std::chrono::seconds t) {
  timeval tv{};
  tv.tv_sec = t.count();
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

}  // namespace

AgentLink::AgentLink(cluster::WorkerContext ctx) : ctx_(std::move(ctx)) {}

AgentLink::~AgentLink() { stop(); }

absl::Status AgentLink::connect() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (ctx_.agent_socket.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError("SKEIN_AGENT_SOCKET path is too long");
  }
  std::memcpy(addr.sun_path, ctx_.agent_socket.data(), ctx_.agent_socket.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect ", ctx_.agent_socket, ": ", std::strerror(errno)));
  }
  set_receive_timeout(fd.get(), kHelloTimeout);

  skein::v1::WorkerToAgent hello;
  auto* h = hello.mutable_hello();
  h->set_job_id(ctx_.job_id);
  h->set_pid(::getpid());
  h->set_role(ctx_.driver ? skein::v1::WORKER_ROLE_DRIVER : skein::v1::WORKER_ROLE_TASK);
  h->set_sdk_version(kSdkVersion);
  if (absl::Status s = write_frame(fd.get(), hello.SerializeAsString()); !s.ok()) {
    return s;
  }
  auto reply = read_frame(fd.get());
  if (!reply.ok()) {
    return absl::UnavailableError(
        absl::StrCat("agent did not acknowledge the hello: ", reply.status().message()));
  }
  skein::v1::AgentToWorker ack;
  if (!ack.ParseFromString(*reply) || !ack.has_hello_ack()) {
    return absl::InternalError("agent answered the hello with an unexpected frame");
  }
  interval_ = std::chrono::milliseconds(ack.hello_ack().stats_interval_ms());
  worker_id_ = ack.hello_ack().worker_id();
  node_id_ = ack.hello_ack().node_id();
  // From here on the reader waits as long as the agent is silent: an idle
  // agent is not a lost one (a lost one closes the socket).
  set_receive_timeout(fd.get(), std::chrono::seconds(0));
  std::lock_guard<std::mutex> lock(write_mu_);
  fd_ = std::move(fd);
  return absl::OkStatus();
}

absl::Status AgentLink::send(std::string_view payload) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (!fd_) {
    return absl::FailedPreconditionError("not connected to the node agent");
  }
  return write_frame(fd_.get(), payload);
}

absl::Status AgentLink::send_sample() {
  skein::v1::WorkerToAgent msg;
  to_proto(source_(), msg.mutable_stats()->mutable_sched());
  return send(msg.SerializeAsString());
}

void AgentLink::start_reporting(StatsSource source) {
  if (!fd_ || interval_.count() == 0) {
    return;
  }
  source_ = std::move(source);
  reporter_ = std::thread([this] { report_loop(); });
}

void AgentLink::report_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    const bool sent = send_sample().ok();
    lock.lock();
    if (!sent) {
      return;  // agent gone: stop reporting, keep the program running
    }
    cv_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

void AgentLink::start_reader(FrameHandler on_frame, LostHandler on_lost) {
  on_frame_ = std::move(on_frame);
  on_lost_ = std::move(on_lost);
  const int fd = fd_.get();
  reader_ = std::thread([this, fd] {
    absl::Status why;
    for (;;) {
      absl::StatusOr<std::string> frame = read_frame(fd);
      if (!frame.ok()) {
        why = frame.status();
        break;
      }
      skein::v1::AgentToWorker msg;
      if (!msg.ParseFromString(*frame)) {
        why = absl::DataLossError("the agent sent a frame that is not an AgentToWorker");
        break;
      }
      on_frame_(msg);
    }
    if (!stopping_.load(std::memory_order_acquire)) {
      on_lost_(why);
    }
  });
}

void AgentLink::stop_reader() {
  stopping_.store(true, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (fd_) {
      ::shutdown(fd_.get(), SHUT_RD);  // the reader's read() returns 0
    }
  }
  if (reader_.joinable()) {
    reader_.join();
  }
}

void AgentLink::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      return;
    }
    stop_ = true;
  }
  cv_.notify_all();
  if (reporter_.joinable()) {
    reporter_.join();
    [[maybe_unused]] absl::Status s = send_sample();  // the final numbers
  }
  stop_reader();
  std::lock_guard<std::mutex> lock(write_mu_);
  fd_.reset();
}

}  // namespace skein::node
