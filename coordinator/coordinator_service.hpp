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
// Auth is normally enforced before any of this by the credentials'
// TokenAuthProcessor; when it cannot be (--insecure, see auth.hpp), every
// handler checks the token itself first via `verifier`.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>

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
  // `verifier` is null unless handlers must check the token themselves.
  // `on_shutdown(stop_nodes)` is called after Shutdown has been answered.
  CoordinatorService(Cluster* cluster, StatsWatchers* stats_watchers, const TokenVerifier* verifier,
                     std::function<void(bool)> on_shutdown);

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

 private:
  grpc::Status authorize(const grpc::CallbackServerContext& ctx) const;

  Cluster* cluster_;
  StatsWatchers* stats_watchers_;
  const TokenVerifier* verifier_;
  std::function<void(bool)> on_shutdown_;
};

}  // namespace skein::coordinator
