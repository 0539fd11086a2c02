#include "coordinator_service.hpp"

#include <algorithm>
#include <deque>

#include "absl/strings/str_cat.h"
#include "skein/common/log.hpp"
#include "skein/common/status.hpp"

namespace skein::coordinator {
namespace {

// The wire contract's chunk size (docs/wire.md): well under gRPC's 4 MiB default.
constexpr size_t kMaxUploadChunk = 1 << 20;
// StreamLogs batches stored records into messages of about this size.
constexpr size_t kLogReadBytes = 256 << 10;
constexpr uint32_t kDefaultStatsIntervalMs = 1000;
constexpr uint32_t kMinStatsIntervalMs = 100;
constexpr uint32_t kMaxStatsIntervalMs = 60000;

grpc::ServerUnaryReactor* finish_unary(grpc::CallbackServerContext* ctx, const grpc::Status& st) {
  auto* r = ctx->DefaultReactor();
  r->Finish(st);
  return r;
}

// ---------------------------------------------------------------------------
// UploadBinary

class UploadReactor : public grpc::ServerReadReactor<v1::UploadBinaryRequest> {
 public:
  UploadReactor(Cluster* cluster, v1::UploadBinaryResponse* resp) : cluster_(cluster), resp_(resp) {
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      finish_upload();
      return;
    }
    if (!upload_) {
      if (req_.sha256().empty() || req_.total_size() == 0) {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the first upload message must carry sha256 and total_size > 0"));
        return;
      }
      auto up = cluster_->binaries().begin_upload(req_.sha256(), req_.total_size());
      if (!up.ok()) {
        Finish(to_grpc(up.status()));
        return;
      }
      upload_ = *std::move(up);
      sha256_ = req_.sha256();
    } else if ((!req_.sha256().empty() && req_.sha256() != sha256_) ||
               (req_.total_size() != 0 && req_.total_size() != total_size_)) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "sha256/total_size changed in the middle of an upload"));
      return;
    }
    if (total_size_ == 0) {
      total_size_ = req_.total_size();
    }
    if (req_.data().size() > kMaxUploadChunk) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("upload chunk of ", req_.data().size(),
                                       " bytes exceeds the 1 MiB chunk limit")));
      return;
    }
    if (auto st = upload_->append(req_.data()); !st.ok()) {
      Finish(to_grpc(st));
      return;
    }
    StartRead(&req_);
  }

  void OnDone() override { delete this; }  // an uncommitted upload_ removes its file

 private:
  void finish_upload() {
    if (!upload_) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty upload: no messages"));
      return;
    }
    auto put = upload_->commit();
    if (!put.ok()) {
      logger("coordinator")->warn("upload rejected: {}", put.status().ToString());
      Finish(to_grpc(put.status()));
      return;
    }
    resp_->set_sha256(put->sha256);
    resp_->set_size(put->size);
    resp_->set_already_stored(put->already_stored);
    logger("coordinator")
        ->info("binary {} stored ({} bytes{})", put->sha256, put->size,
               put->already_stored ? ", already present" : "");
    Finish(grpc::Status::OK);
  }

  Cluster* cluster_;
  v1::UploadBinaryResponse* resp_;
  v1::UploadBinaryRequest req_;
  std::unique_ptr<BinaryStore::Upload> upload_;
  std::string sha256_;
  uint64_t total_size_ = 0;
};

// ---------------------------------------------------------------------------
// StreamLogs

class LogsReactor : public grpc::ServerWriteReactor<v1::StreamLogsResponse> {
 public:
  // The JobWatcher outlives the reactor if Cluster still holds it while the
  // reactor is being deleted; `reactor` is cleared under `mu` in OnDone.
  struct Watch : JobWatcher {
    std::recursive_mutex mu;  // recursive: a write may complete inline
    LogsReactor* reactor = nullptr;
    void notify() override {
      std::lock_guard<std::recursive_mutex> lock(mu);
      if (reactor != nullptr) {
        reactor->pump_locked();
      }
    }
  };

  LogsReactor(Cluster* cluster, uint64_t job_id, bool follow)
      : cluster_(cluster), job_id_(job_id), follow_(follow), watch_(std::make_shared<Watch>()) {
    std::lock_guard<std::recursive_mutex> lock(watch_->mu);
    watch_->reactor = this;
    if (follow_) {
      cluster_->add_watcher(job_id_, watch_);  // before the first read: no lost notification
    }
    pump_locked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::recursive_mutex> lock(watch_->mu);
    writing_ = false;
    if (!ok) {
      finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    pump_locked();
  }

  void OnCancel() override {
    std::lock_guard<std::recursive_mutex> lock(watch_->mu);
    cancelled_ = true;
    if (!writing_) {
      finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }

  void OnDone() override {
    {
      std::lock_guard<std::recursive_mutex> lock(watch_->mu);
      watch_->reactor = nullptr;
    }
    if (follow_) {
      cluster_->remove_watcher(job_id_, watch_.get());
    }
    delete this;
  }

  // REQUIRES(watch_->mu). Sends the next batch, the final message, or waits.
  void pump_locked() {
    if (writing_ || finished_) {
      return;
    }
    if (cancelled_) {
      finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      return;
    }
    if (final_sent_) {
      finish_locked(grpc::Status::OK);
      return;
    }
    // State first, then logs: once a job is terminal and no node that ran it
    // may still send output (job_output.hpp), every chunk is in the store.
    auto view = cluster_->log_view(job_id_);
    if (!view.ok()) {
      finish_locked(to_grpc(view.status()));
      return;
    }
    if (pending_.empty()) {
      auto rd = cluster_->logs().read(job_id_, offset_, kLogReadBytes);
      if (!rd.ok()) {
        finish_locked(to_grpc(rd.status()));
        return;
      }
      offset_ = rd->next_offset;
      for (auto& c : rd->chunks) {
        pending_.push_back(std::move(c));
      }
    }
    if (!pending_.empty()) {
      out_.Clear();
      *out_.mutable_chunk() = std::move(pending_.front());
      pending_.pop_front();
      writing_ = true;
      StartWrite(&out_);
      return;
    }
    if (!follow_) {
      finish_locked(grpc::Status::OK);
      return;
    }
    if (is_terminal(view->job.state()) && !view->more_output) {
      out_.Clear();
      *out_.mutable_final_job() = view->job;
      final_sent_ = true;
      writing_ = true;
      StartWrite(&out_);
    }
    // else: idle until notify() (new output, a state change, a node's
    // end_of_output or the end of the linger).
  }

 private:
  void finish_locked(const grpc::Status& st) {
    if (!finished_) {
      finished_ = true;
      Finish(st);
    }
  }

  Cluster* cluster_;
  const uint64_t job_id_;
  const bool follow_;
  std::shared_ptr<Watch> watch_;
  // All below GUARDED_BY(watch_->mu).
  uint64_t offset_ = 0;
  std::deque<v1::LogChunk> pending_;
  v1::StreamLogsResponse out_;  // the message being written
  bool writing_ = false;
  bool finished_ = false;
  bool final_sent_ = false;
  bool cancelled_ = false;
};

// ---------------------------------------------------------------------------
// WatchStats

class StatsReactor : public grpc::ServerWriteReactor<v1::GetStatsResponse> {
 public:
  struct Tick : StatsWatchers::Watcher {
    std::mutex mu;
    StatsReactor* reactor = nullptr;
    void tick(SteadyTime now) override {
      std::lock_guard<std::mutex> lock(mu);
      if (reactor != nullptr) {
        reactor->tick_locked(now);
      }
    }
  };

  StatsReactor(Cluster* cluster, StatsWatchers* hub, uint32_t interval_ms)
      : cluster_(cluster), hub_(hub), interval_(interval_ms), tick_(std::make_shared<Tick>()) {
    std::lock_guard<std::mutex> lock(tick_->mu);
    tick_->reactor = this;
    hub_->add(tick_);
    tick_locked(std::chrono::steady_clock::now());  // first snapshot at once
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(tick_->mu);
    writing_ = false;
    if (!ok) {
      finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    }
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(tick_->mu);
    if (!writing_) {
      finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    } else {
      cancelled_ = true;
    }
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(tick_->mu);
      tick_->reactor = nullptr;
    }
    hub_->remove(tick_.get());
    delete this;
  }

  void tick_locked(SteadyTime now) {
    if (finished_) {
      return;
    }
    if (cancelled_ && !writing_) {
      finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      return;
    }
    // A slow reader skips snapshots instead of queueing them (bounded memory).
    if (writing_ || (started_ && now - last_ < interval_)) {
      return;
    }
    started_ = true;
    last_ = now;
    out_ = cluster_->stats();
    writing_ = true;
    StartWrite(&out_);
  }

 private:
  void finish_locked(const grpc::Status& st) {
    if (!finished_) {
      finished_ = true;
      Finish(st);
    }
  }

  Cluster* cluster_;
  StatsWatchers* hub_;
  const std::chrono::milliseconds interval_;
  std::shared_ptr<Tick> tick_;
  // GUARDED_BY(tick_->mu)
  v1::GetStatsResponse out_;
  SteadyTime last_;
  bool started_ = false;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
};

// Finishes a streaming call at once with an error (bad request, auth).
template <typename Msg>
class FailedWriter : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit FailedWriter(const grpc::Status& st) { this->Finish(st); }
  void OnDone() override { delete this; }
};

class FailedReader : public grpc::ServerReadReactor<v1::UploadBinaryRequest> {
 public:
  explicit FailedReader(const grpc::Status& st) { Finish(st); }
  void OnDone() override { delete this; }
};

}  // namespace

void StatsWatchers::add(std::shared_ptr<Watcher> w) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.insert(std::move(w));
}

void StatsWatchers::remove(const Watcher* w) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = watchers_.begin(); it != watchers_.end(); ++it) {
    if (it->get() == w) {
      watchers_.erase(it);
      return;
    }
  }
}

void StatsWatchers::tick(SteadyTime now) {
  std::vector<std::shared_ptr<Watcher>> copy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    copy.assign(watchers_.begin(), watchers_.end());
  }
  for (auto& w : copy) {
    w->tick(now);
  }
}

CoordinatorService::CoordinatorService(Cluster* cluster, StatsWatchers* stats_watchers,
                                       CertAuthority* ca, const Authenticator* authenticator,
                                       std::function<void(bool)> on_shutdown)
    : cluster_(cluster),
      stats_watchers_(stats_watchers),
      ca_(ca),
      authenticator_(authenticator),
      on_shutdown_(std::move(on_shutdown)) {}

grpc::Status CoordinatorService::authorize_user(const grpc::CallbackServerContext& ctx,
                                                const char* method) const {
  return authenticator_->authorize(ctx, {Principal::Role::kUser}, method);
}

grpc::Status CoordinatorService::authorize_admin(const grpc::CallbackServerContext& ctx,
                                                 const char* method) const {
  return authenticator_->authorize(ctx, {}, method);
}

grpc::Status CoordinatorService::need_ca() const {
  if (ca_ != nullptr) {
    return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this coordinator serves loopback only, without a cluster CA; start it "
                      "with --listen ADDR (TLS) to admit other hosts and users");
}

grpc::ServerReadReactor<v1::UploadBinaryRequest>* CoordinatorService::UploadBinary(
    grpc::CallbackServerContext* ctx, v1::UploadBinaryResponse* resp) {
  if (auto st = authorize_user(*ctx, "Coordinator.UploadBinary"); !st.ok()) {
    return new FailedReader(st);
  }
  return new UploadReactor(cluster_, resp);
}

grpc::ServerUnaryReactor* CoordinatorService::SubmitJob(grpc::CallbackServerContext* ctx,
                                                        const v1::SubmitJobRequest* req,
                                                        v1::SubmitJobResponse* resp) {
  if (auto st = authorize_user(*ctx, "Coordinator.SubmitJob"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  auto r = cluster_->submit(*req);
  if (r.ok()) {
    *resp->mutable_job() = r->job;
    resp->set_deduplicated(r->deduplicated);
  }
  return finish_unary(ctx, to_grpc(r.status()));
}

grpc::ServerUnaryReactor* CoordinatorService::ListJobs(grpc::CallbackServerContext* ctx,
                                                       const v1::ListJobsRequest* req,
                                                       v1::ListJobsResponse* resp) {
  if (auto st = authorize_user(*ctx, "Coordinator.ListJobs"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  std::vector<v1::JobState> states;
  for (int s : req->states()) {
    if (s == v1::JOB_STATE_UNSPECIFIED || !v1::JobState_IsValid(s)) {
      return finish_unary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                            absl::StrCat("invalid job state filter ", s)));
    }
    states.push_back(static_cast<v1::JobState>(s));
  }
  for (auto& j : cluster_->list_jobs(states, req->limit())) {
    *resp->add_jobs() = std::move(j);
  }
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* CoordinatorService::GetJob(grpc::CallbackServerContext* ctx,
                                                     const v1::GetJobRequest* req,
                                                     v1::GetJobResponse* resp) {
  if (auto st = authorize_user(*ctx, "Coordinator.GetJob"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  auto r = cluster_->get_job(req->job_id());
  if (r.ok()) {
    *resp->mutable_job() = *r;
  }
  return finish_unary(ctx, to_grpc(r.status()));
}

grpc::ServerUnaryReactor* CoordinatorService::CancelJob(grpc::CallbackServerContext* ctx,
                                                        const v1::CancelJobRequest* req,
                                                        v1::CancelJobResponse* resp) {
  if (auto st = authorize_user(*ctx, "Coordinator.CancelJob"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  auto r = cluster_->cancel_job(req->job_id(), req->reason());
  if (r.ok()) {
    *resp->mutable_job() = *r;
  }
  return finish_unary(ctx, to_grpc(r.status()));
}

grpc::ServerUnaryReactor* CoordinatorService::ListNodes(grpc::CallbackServerContext* ctx,
                                                        const v1::ListNodesRequest* req,
                                                        v1::ListNodesResponse* resp) {
  if (auto st = authorize_user(*ctx, "Coordinator.ListNodes"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  for (auto& n : cluster_->list_nodes(req->include_dead())) {
    *resp->add_nodes() = std::move(n);
  }
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* CoordinatorService::GetStats(grpc::CallbackServerContext* ctx,
                                                       const v1::GetStatsRequest* /*req*/,
                                                       v1::GetStatsResponse* resp) {
  if (auto st = authorize_user(*ctx, "Coordinator.GetStats"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  *resp = cluster_->stats();
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerWriteReactor<v1::GetStatsResponse>* CoordinatorService::WatchStats(
    grpc::CallbackServerContext* ctx, const v1::WatchStatsRequest* req) {
  if (auto st = authorize_user(*ctx, "Coordinator.WatchStats"); !st.ok()) {
    return new FailedWriter<v1::GetStatsResponse>(st);
  }
  uint32_t interval = req->interval_ms() == 0 ? kDefaultStatsIntervalMs : req->interval_ms();
  interval = std::clamp(interval, kMinStatsIntervalMs, kMaxStatsIntervalMs);
  return new StatsReactor(cluster_, stats_watchers_, interval);
}

grpc::ServerWriteReactor<v1::StreamLogsResponse>* CoordinatorService::StreamLogs(
    grpc::CallbackServerContext* ctx, const v1::StreamLogsRequest* req) {
  if (auto st = authorize_user(*ctx, "Coordinator.StreamLogs"); !st.ok()) {
    return new FailedWriter<v1::StreamLogsResponse>(st);
  }
  if (auto job = cluster_->get_job(req->job_id()); !job.ok()) {
    return new FailedWriter<v1::StreamLogsResponse>(to_grpc(job.status()));
  }
  return new LogsReactor(cluster_, req->job_id(), req->follow());
}

grpc::ServerUnaryReactor* CoordinatorService::Shutdown(grpc::CallbackServerContext* ctx,
                                                       const v1::ShutdownRequest* req,
                                                       v1::ShutdownResponse* /*resp*/) {
  if (auto st = authorize_admin(*ctx, "Coordinator.Shutdown"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  logger("coordinator")->info("shutdown requested over RPC (stop_nodes={})", req->stop_nodes());
  if (req->stop_nodes()) {
    cluster_->shutdown_nodes("coordinator shutting down (skein down)");
  }
  auto* r = finish_unary(ctx, grpc::Status::OK);
  // Only signals the owner's thread; the server is stopped from there, never
  // from inside a reaction.
  on_shutdown_(req->stop_nodes());
  return r;
}

namespace {

void fill_token_info(const BootstrapToken& t, v1::BootstrapTokenInfo* out) {
  out->set_id(t.id);
  out->set_description(t.description);
  out->set_created_unix_ms(t.created_unix_ms);
  out->set_expires_unix_ms(t.expires_unix_ms);
  out->set_uses(t.uses);
}

}  // namespace

grpc::ServerUnaryReactor* CoordinatorService::CreateToken(grpc::CallbackServerContext* ctx,
                                                          const v1::CreateTokenRequest* req,
                                                          v1::CreateTokenResponse* resp) {
  if (auto st = authorize_admin(*ctx, "Coordinator.CreateToken"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  if (auto st = need_ca(); !st.ok()) {
    return finish_unary(ctx, st);
  }
  if (req->description().size() > 256) {
    return finish_unary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                          "a token description is at most 256 bytes"));
  }
  const auto ttl = req->ttl_seconds() == 0 ? std::chrono::seconds(std::chrono::hours(24))
                                           : std::chrono::seconds(req->ttl_seconds());
  BootstrapToken info;
  auto token = ca_->create_token(ttl, req->description(), &info);
  if (!token.ok()) {
    return finish_unary(ctx, to_grpc(token.status()));
  }
  resp->set_token(*token);
  fill_token_info(info, resp->mutable_info());
  resp->set_ca_hash(ca_->ca_hash());
  for (const auto& a : ca_->addresses()) {
    resp->add_addresses(a);
  }
  logger("coordinator")->info("join token {} created (expires in {} s)", info.id, ttl.count());
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* CoordinatorService::ListTokens(grpc::CallbackServerContext* ctx,
                                                         const v1::ListTokensRequest* /*req*/,
                                                         v1::ListTokensResponse* resp) {
  if (auto st = authorize_admin(*ctx, "Coordinator.ListTokens"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  if (auto st = need_ca(); !st.ok()) {
    return finish_unary(ctx, st);
  }
  for (const auto& t : ca_->list_tokens()) {
    fill_token_info(t, resp->add_tokens());
  }
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* CoordinatorService::RevokeToken(grpc::CallbackServerContext* ctx,
                                                          const v1::RevokeTokenRequest* req,
                                                          v1::RevokeTokenResponse* /*resp*/) {
  if (auto st = authorize_admin(*ctx, "Coordinator.RevokeToken"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  if (auto st = need_ca(); !st.ok()) {
    return finish_unary(ctx, st);
  }
  // "abc123.secret" is accepted too: people paste the whole token.
  std::string id = req->id().substr(0, req->id().find('.'));
  if (id.empty()) {
    return finish_unary(ctx,
                        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "token id is required"));
  }
  auto st = ca_->revoke_token(id);
  if (st.ok()) {
    logger("coordinator")->info("join token {} revoked", id);
  }
  return finish_unary(ctx, to_grpc(st));
}

grpc::ServerUnaryReactor* CoordinatorService::RemoveNode(grpc::CallbackServerContext* ctx,
                                                         const v1::RemoveNodeRequest* req,
                                                         v1::RemoveNodeResponse* resp) {
  if (auto st = authorize_admin(*ctx, "Coordinator.RemoveNode"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  if (req->node().empty()) {
    return finish_unary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                          "node id or certificate name is required"));
  }
  auto identity = cluster_->remove_node(req->node(), "removed by an administrator");
  if (!identity.ok()) {
    return finish_unary(ctx, to_grpc(identity.status()));
  }
  resp->set_identity(*identity);
  if (!identity->empty() && ca_ != nullptr) {
    auto serials = ca_->revoke_identity(*identity);
    if (!serials.ok()) {
      return finish_unary(ctx, to_grpc(serials.status()));
    }
    for (const auto& s : *serials) {
      resp->add_revoked_serials(s);
    }
  }
  logger("coordinator")
      ->info("node '{}' removed; {} certificate(s) revoked", req->node(),
             resp->revoked_serials_size());
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* CoordinatorService::IssueCredential(grpc::CallbackServerContext* ctx,
                                                              const v1::IssueCredentialRequest* req,
                                                              v1::IssueCredentialResponse* resp) {
  if (auto st = authorize_admin(*ctx, "Coordinator.IssueCredential"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  if (auto st = need_ca(); !st.ok()) {
    return finish_unary(ctx, st);
  }
  auto role = pki::parse_role(req->role().empty() ? "user" : req->role());
  if (!role.ok() || (*role != pki::Role::kUser && *role != pki::Role::kAdmin)) {
    return finish_unary(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                          "a credential's role is \"user\" or \"admin\""));
  }
  const auto ttl = req->ttl_seconds() == 0 ? std::chrono::seconds(std::chrono::hours(24 * 365))
                                           : std::chrono::seconds(req->ttl_seconds());
  auto issued = ca_->issue_credential(req->name(), *role, req->csr_pem(), ttl);
  if (!issued.ok()) {
    return finish_unary(ctx, to_grpc(issued.status()));
  }
  resp->set_cert_pem(issued->cert_pem);
  resp->set_ca_pem(ca_->ca_pem());
  logger("coordinator")
      ->info("{} credential for '{}' issued (serial {})", pki::role_name(*role), req->name(),
             issued->serial);
  return finish_unary(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* CoordinatorService::GetClusterInfo(
    grpc::CallbackServerContext* ctx, const v1::GetClusterInfoRequest* /*req*/,
    v1::GetClusterInfoResponse* resp) {
  if (auto st = authorize_user(*ctx, "Coordinator.GetClusterInfo"); !st.ok()) {
    return finish_unary(ctx, st);
  }
  if (auto st = need_ca(); !st.ok()) {
    return finish_unary(ctx, st);
  }
  resp->set_ca_pem(ca_->ca_pem());
  resp->set_ca_hash(ca_->ca_hash());
  for (const auto& a : ca_->addresses()) {
    resp->add_addresses(a);
  }
  return finish_unary(ctx, grpc::Status::OK);
}

}  // namespace skein::coordinator
