// CoordinatorService: the skein.v1.Coordinator gRPC service (the CLI's API),
// on the callback API. Unary handlers validate, call one Cluster method and
// finish inline. The streaming calls are small reactors:
//   UploadBinary  reads chunks into a BinaryStore::Upload (one read in flight);
//   StreamLogs    writes stored log records, then follows the job via a
//                 JobWatcher until it is terminal (one write in flight);
//   WatchStats    writes a stats snapshot whenever StatsWatchers::tick says
//                 its interval has passed.
// No reaction sleeps, parks or holds a lock into a later reaction.
//
// Authentication happens before any of this, in the credentials'
// ClusterAuthProcessor (auth.hpp); every handler then authorizes the
// principal first thing: users and admins may work with jobs, nodes, logs and
// stats; only admins may shut down, manage join tokens, remove nodes and issue
// credentials. Node and bootstrap principals may call nothing here.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "cert_authority.hpp"
#include "cluster.hpp"
#include "skein/common/auth.hpp"
#include "skein/v1/coordinator.grpc.pb.h"

namespace skein::coordinator {

// Registry of live WatchStats calls; the coordinator's ticker drives it.
class StatsWatchers {
 public:
  class Watcher {
   public:
    virtual ~Watcher() = default;
    virtual void tick(SteadyTime now) = 0;  // called without the registry lock
  };
  void add(std::shared_ptr<Watcher> w);
  void remove(const Watcher* w);
  void tick(SteadyTime now);

 private:
  std::mutex mu_;
  std::set<std::shared_ptr<Watcher>> watchers_;  // GUARDED_BY(mu_)
};

class CoordinatorService final : public v1::Coordinator::CallbackService {
 public:
  // `ca` is null on a loopback token-mode coordinator (the token and
  // credential methods then fail FAILED_PRECONDITION).
  // `on_shutdown(stop_nodes)` is called after Shutdown has been answered.
  // `authenticator` identifies callers (it outlives the service).
  CoordinatorService(Cluster* cluster, StatsWatchers* stats_watchers, CertAuthority* ca,
                     const Authenticator* authenticator, std::function<void(bool)> on_shutdown);

  grpc::ServerReadReactor<v1::UploadBinaryRequest>* UploadBinary(
      grpc::CallbackServerContext* ctx, v1::UploadBinaryResponse* resp) override;
  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* ctx,
                                      const v1::SubmitJobRequest* req,
                                      v1::SubmitJobResponse* resp) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx,
                                     const v1::ListJobsRequest* req,
                                     v1::ListJobsResponse* resp) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx, const v1::GetJobRequest* req,
                                   v1::GetJobResponse* resp) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx,
                                      const v1::CancelJobRequest* req,
                                      v1::CancelJobResponse* resp) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* ctx,
                                      const v1::ListNodesRequest* req,
                                      v1::ListNodesResponse* resp) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* ctx,
                                     const v1::GetStatsRequest* req,
                                     v1::GetStatsResponse* resp) override;
  grpc::ServerWriteReactor<v1::GetStatsResponse>* WatchStats(
      grpc::CallbackServerContext* ctx, const v1::WatchStatsRequest* req) override;
  grpc::ServerWriteReactor<v1::StreamLogsResponse>* StreamLogs(
      grpc::CallbackServerContext* ctx, const v1::StreamLogsRequest* req) override;
  grpc::ServerUnaryReactor* Shutdown(grpc::CallbackServerContext* ctx,
                                     const v1::ShutdownRequest* req,
                                     v1::ShutdownResponse* resp) override;
  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* ctx,
                                        const v1::CreateTokenRequest* req,
                                        v1::CreateTokenResponse* resp) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* ctx,
                                       const v1::ListTokensRequest* req,
                                       v1::ListTokensResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* ctx,
                                        const v1::RevokeTokenRequest* req,
                                        v1::RevokeTokenResponse* resp) override;
  grpc::ServerUnaryReactor* RemoveNode(grpc::CallbackServerContext* ctx,
                                       const v1::RemoveNodeRequest* req,
                                       v1::RemoveNodeResponse* resp) override;
  grpc::ServerUnaryReactor* IssueCredential(grpc::CallbackServerContext* ctx,
                                            const v1::IssueCredentialRequest* req,
                                            v1::IssueCredentialResponse* resp) override;
  grpc::ServerUnaryReactor* GetClusterInfo(grpc::CallbackServerContext* ctx,
                                           const v1::GetClusterInfoRequest* req,
                                           v1::GetClusterInfoResponse* resp) override;

 private:
  // Users and admins.
  grpc::Status authorize_user(const grpc::CallbackServerContext& ctx, const char* method) const;
  // Admins only.
  grpc::Status authorize_admin(const grpc::CallbackServerContext& ctx, const char* method) const;
  // FAILED_PRECONDITION when there is no CA (loopback token mode).
  grpc::Status need_ca() const;

  Cluster* cluster_;
  StatsWatchers* stats_watchers_;
  CertAuthority* ca_;
  const Authenticator* authenticator_;
  std::function<void(bool)> on_shutdown_;
};

}  // namespace skein::coordinator
