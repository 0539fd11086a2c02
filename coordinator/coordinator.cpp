#include "coordinator.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "skein/common/bind_policy.hpp"
#include "skein/common/keepalive.hpp"
#include "skein/common/log.hpp"

namespace skein::coordinator {
namespace {

// The failure detector's resolution: a node is declared dead at most this
// long after its deadline — a quarter period, so detection stays within
// period * (miss_limit + 0.25) (25 ms at the test setting of 100 ms). Capped
// at 100 ms so WatchStats intervals (>= 100 ms) are kept within one tick.
std::chrono::milliseconds tick_interval(const MembershipConfig& m) {
  return std::clamp(m.heartbeat_period / 4, std::chrono::milliseconds(5),
                    std::chrono::milliseconds(100));
}

// Bulk data travels in 1 MiB chunks; leave headroom for the envelope.
constexpr int kMaxMessageBytes = 4 << 20;
constexpr auto kStopGrace = std::chrono::milliseconds(500);

}  // namespace

absl::Status write_file_atomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("create ", tmp, ": ", std::strerror(errno)));
  }
  ssize_t n = ::write(fd, content.data(), content.size());
  bool ok = n == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::start(CoordinatorConfig config,
                                                                std::string token) {
  auto hp = split_host_port(config.listen);
  if (!hp.ok()) {
    return hp.status();
  }
  std::unique_ptr<Coordinator> c(new Coordinator());
  const bool tls = config.tls || !is_loopback_host(hp->host);
  AuthConfig auth{std::move(token), {}};
  // What other hosts dial (certificate SANs, join commands): --advertise, or
  // the --listen host unless it is a wildcard, which no one can dial.
  std::vector<std::string> advertise = config.advertise;
  if (advertise.empty() && hp->host != "0.0.0.0" && hp->host != "::") {
    advertise.push_back(hp->host);
  }
  if (tls) {
    auto ca = CertAuthority::open({.dir = config.cluster.data_dir + "/pki",
                                   .advertise = advertise,
                                   .node_validity = config.node_cert_validity});
    if (!ca.ok()) {
      return ca.status();
    }
    c->cert_authority_ = *std::move(ca);
    auth.tls = c->cert_authority_->server_tls();
  }
  auto server_auth = make_server_auth(auth, config.listen, c->cert_authority_.get());
  if (!server_auth.ok()) {
    return server_auth.status();
  }
  c->config_ = config;
  auto cluster = Cluster::open(config.cluster);
  if (!cluster.ok()) {
    return cluster.status();
  }
  c->cluster_ = *std::move(cluster);
  Coordinator* self = c.get();
  c->coordinator_service_ = std::make_unique<CoordinatorService>(
      c->cluster_.get(), &c->stats_watchers_, c->cert_authority_.get(),
      server_auth->authenticator.get(), [self](bool /*stop_nodes*/) { self->request_shutdown(); });
  c->node_gateway_ = std::make_unique<NodeGatewayService>(
      c->cluster_.get(), c->cert_authority_.get(), server_auth->authenticator.get());
  c->authenticator_ = server_auth->authenticator;

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen, server_auth->credentials, &port);
  builder.RegisterService(c->coordinator_service_.get());
  builder.RegisterService(c->node_gateway_.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  accept_keepalive_pings(builder);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  c->server_ = builder.BuildAndStart();
  if (!c->server_ || port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.listen,
        ": the port is in use or the address is not this host's (pick another with --listen)"));
  }
  c->port_ = port;
  std::string host = hp->host.find(':') != std::string::npos ? "[" + hp->host + "]" : hp->host;
  c->address_ = absl::StrCat(host, ":", port);
  if (c->cert_authority_) {
    // Each advertised address, with the bound port where it names none.
    std::vector<std::string> dial;
    for (const auto& a : advertise) {
      if (split_host_port(a).ok()) {
        dial.push_back(a);
      } else {
        dial.push_back(absl::StrCat(
            a.find(':') != std::string::npos && a.front() != '[' ? absl::StrCat("[", a, "]") : a,
            ":", port));
      }
    }
    c->cert_authority_->set_addresses(std::move(dial));
  }
  c->ticker_ = std::thread([self] { self->ticker_main(); });
  if (!config.port_file.empty()) {
    if (auto st = write_file_atomically(config.port_file, c->address_ + "\n"); !st.ok()) {
      c->stop();
      return st;
    }
  }
  logger("coordinator")
      ->info("serving on {} ({}; data dir {}, heartbeat {} ms x {})", c->address_,
             tls ? absl::StrCat("mutual TLS, CA ", c->cert_authority_->ca_hash())
                 : std::string("loopback, admin token"),
             config.cluster.data_dir, config.cluster.membership.heartbeat_period.count(),
             config.cluster.membership.miss_limit);
  return c;
}

Coordinator::~Coordinator() { stop(); }

void Coordinator::request_shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_requested_ = true;
  cv_.notify_all();
}

void Coordinator::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return shutdown_requested_; });
}

void Coordinator::ticker_main() {
  auto interval = tick_interval(config_.cluster.membership);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopped_) {
    cv_.wait_for(lock, interval, [this] { return stopped_; });
    if (stopped_) {
      break;
    }
    lock.unlock();
    auto now = std::chrono::steady_clock::now();
    cluster_->tick(now);
    stats_watchers_.tick(now);
    lock.lock();
  }
}

void Coordinator::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) {
      return;
    }
    stopped_ = true;
    shutdown_requested_ = true;
    cv_.notify_all();
  }
  if (ticker_.joinable()) {
    ticker_.join();
  }
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + kStopGrace);
    server_->Wait();
    logger("coordinator")->info("stopped");
  }
}

}  // namespace skein::coordinator
