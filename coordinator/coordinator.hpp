// Coordinator: the composition root of skein-coordinator.
//
// start() opens the Cluster (replaying the journal), builds the token-gated
// credentials (auth.hpp; the bind policy refuses a non-loopback --listen
// without TLS or --insecure), starts one gRPC server hosting Coordinator and
// NodeGateway, and a ticker thread that drives the failure detector and the
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

#include "absl/status/statusor.h"
#include "cluster.hpp"
#include "coordinator_service.hpp"
#include "node_gateway.hpp"
#include "skein/common/auth.hpp"

namespace skein::coordinator {

struct CoordinatorConfig {
  std::string listen = "127.0.0.1:0";
  std::string port_file;  // optional; "host:port\n" written once serving
  TlsFiles tls;
  bool insecure = false;
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
  std::unique_ptr<TokenVerifier> handler_verifier_;  // only in --insecure mode
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
