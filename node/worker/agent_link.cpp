#include "worker/agent_link.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "skein/v1/worker.pb.h"
#include "wire/frame.hpp"
#include "worker/stats_proto.hpp"

namespace skein::node {
namespace {

// The agent answers a hello at once; a slow answer means something is wrong
// and the program should get on with its work instead of waiting.
constexpr auto kHelloTimeout = std::chrono::seconds(5);
constexpr const char* kSdkVersion = "0.1.0";

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
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) {
    return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect ", ctx_.agent_socket, ": ", std::strerror(errno)));
  }
  timeval tv{};
  tv.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(kHelloTimeout).count();
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  skein::v1::WorkerToAgent hello;
  auto* h = hello.mutable_hello();
  h->set_job_id(ctx_.job_id);
  h->set_pid(::getpid());
  h->set_role(ctx_.driver ? skein::v1::WORKER_ROLE_DRIVER : skein::v1::WORKER_ROLE_TASK);
  h->set_sdk_version(kSdkVersion);
  if (absl::Status s = write_frame(fd_.get(), hello.SerializeAsString()); !s.ok()) {
    return s;
  }
  auto reply = read_frame(fd_.get());
  if (!reply.ok()) {
    return absl::UnavailableError(
        absl::StrCat("agent did not acknowledge the hello: ", reply.status().message()));
  }
  skein::v1::AgentToWorker ack;
  if (!ack.ParseFromString(*reply) || !ack.has_hello_ack()) {
    return absl::InternalError("agent answered the hello with an unexpected frame");
  }
  interval_ = std::chrono::milliseconds(ack.hello_ack().stats_interval_ms());
  return absl::OkStatus();
}

absl::Status AgentLink::send_sample() {
  skein::v1::WorkerToAgent msg;
  to_proto(source_(), msg.mutable_stats()->mutable_sched());
  return write_frame(fd_.get(), msg.SerializeAsString());
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
    if (!send_sample().ok()) {
      return;  // agent gone: stop reporting, keep the program running
    }
    cv_.wait_for(lock, interval_, [this] { return stop_; });
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
  fd_.reset();
}

}  // namespace skein::node
