// Coordinator: the composition root of skein-coordinator.
//
// start() opens the Cluster (replaying the journal), builds the credentials
// (auth.hpp): on a loopback --listen the admin token over local credentials,
// unless `tls`; off loopback always TLS with the cluster's own PKI
// (cert_authority.hpp, made on first start in <data-dir>/pki), client
// certificates verified against its CA. It starts one gRPC server hosting
// Coordinator and NodeGateway, and a ticker thread that drives the failure detector and the
// WatchStats streams. The bound address is written atomically to the port
// file (tmp + rename) only once the server is serving, so launchers can use
// --listen 127.0.0.1:0 and read the port.
//
// Stop order: ticker thread, then the gRPC server (with a short deadline for
// in-flight calls; streams are cancelled), then the Cluster. A Coordinator can
// be started and stopped many times in one process (tests do).
//
//   auto c = Coordinator::start(config, token);
//   (*c)->wait();   // until Shutdown RPC / request_shutdown()
//   (*c)->stop();
#pragma once

#include <grpcpp/server.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cert_authority.hpp"
#include "cluster.hpp"
#include "coordinator_service.hpp"
#include "node_gateway.hpp"
#include "skein/common/auth.hpp"

namespace skein::coordinator {

// The well-known port of the coordinator, shared by agents and the CLI.
inline constexpr int kDefaultPort = 7700;

struct CoordinatorConfig {
  std::string listen = "127.0.0.1:0";
  std::string port_file;  // optional; "host:port\n" written once serving
  // Serve TLS (and accept joins) even on a loopback --listen. Implied by a
  // non-loopback --listen.
  bool tls = false;
  // Addresses (host or host:port) other hosts dial: SANs of the server
  // certificate and what `skein token create` prints.
  std::vector<std::string> advertise;
  // Lifetime of node certificates; agents renew at two thirds of it.
  std::chrono::seconds node_cert_validity{std::chrono::hours(24 * 30)};
  ClusterConfig cluster;
};

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> start(CoordinatorConfig config,
                                                            std::string token);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // "host:port" actually bound (the port resolved when --listen used :0).
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  Cluster& cluster() { return *cluster_; }
  // Null unless serving TLS.
  CertAuthority* cert_authority() { return cert_authority_.get(); }

  // Any thread, including a reaction: wakes wait(). Never blocks.
  void request_shutdown();
  void wait();
  // Idempotent; must not be called from a gRPC reaction.
  void stop();

 private:
  Coordinator() = default;
  void ticker_main();

  CoordinatorConfig config_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<CertAuthority> cert_authority_;  // TLS mode only
  // The services' (and the credentials' processor's) view of callers.
  std::shared_ptr<const Authenticator> authenticator_;
  StatsWatchers stats_watchers_;
  std::unique_ptr<CoordinatorService> coordinator_service_;
  std::unique_ptr<NodeGatewayService> node_gateway_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  int port_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_requested_ = false;  // GUARDED_BY(mu_)
  bool stopped_ = false;             // GUARDED_BY(mu_)
  std::thread ticker_;
};

// Writes `content` to `path` atomically (tmp file, fsync, rename).
absl::Status write_file_atomically(const std::string& path, const std::string& content);

}  // namespace skein::coordinator
