#include "node_gateway.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "outbox.hpp"
#include "skein/common/log.hpp"
#include "skein/common/sha256.hpp"
#include "skein/common/status.hpp"

namespace skein::coordinator {
namespace {

constexpr size_t kFetchChunk = 1 << 20;  // docs/wire.md: chunks <= 1 MiB

// ---------------------------------------------------------------------------
// Connect

class ConnectReactor : public grpc::ServerBidiReactor<v1::AgentMessage, v1::CoordinatorMessage> {
 public:
  // What Cluster holds: outlives the reactor; `reactor` cleared in OnDone,
  // which moves the messages never written into `unsent` for Cluster::detach
  // to take. A send after that (Cluster has not seen the detach yet) lands
  // there too, so nothing queued on a dying stream is lost silently.
  struct Session : NodeSession {
    std::mutex mu;
    ConnectReactor* reactor = nullptr;           // GUARDED_BY(mu)
    std::vector<v1::CoordinatorMessage> unsent;  // GUARDED_BY(mu)
    void send(const v1::CoordinatorMessage& msg) override {
      send_owned(v1::CoordinatorMessage(msg));
    }
    void send_owned(v1::CoordinatorMessage&& msg) override {
      std::lock_guard<std::mutex> lock(mu);
      if (reactor != nullptr) {
        reactor->enqueue_locked(std::move(msg));
      } else {
        unsent.push_back(std::move(msg));
      }
    }
    std::vector<v1::CoordinatorMessage> take_unsent() override {
      std::lock_guard<std::mutex> lock(mu);
      return std::exchange(unsent, {});
    }
    void close(const grpc::Status& status) override {
      std::lock_guard<std::mutex> lock(mu);
      if (reactor != nullptr) {
        reactor->close_locked(status);
      }
    }
  };

  // `identity`: the caller's node certificate name, "" for the admin token.
  ConnectReactor(Cluster* cluster, std::string identity)
      : cluster_(cluster), identity_(std::move(identity)), session_(std::make_shared<Session>()) {
    std::lock_guard<std::mutex> lock(session_->mu);
    session_->reactor = this;
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The agent half-closed or the stream broke. Not a death by itself.
      session_->close(grpc::Status::OK);
      return;
    }
    absl::Status st;
    if (node_id_.empty()) {
      if (in_.msg_case() != v1::AgentMessage::kHello || in_.hello().node_id().empty()) {
        st = absl::InvalidArgumentError(
            "the first Connect message must be a hello carrying node_id and epoch");
      } else if (auto bound = cluster_->node_identity(in_.hello().node_id());
                 bound.ok() && !identity_.empty() && *bound != identity_) {
        st = absl::PermissionDeniedError(absl::StrCat("node ", in_.hello().node_id(),
                                                      " belongs to another certificate than '",
                                                      identity_, "'"));
      } else {
        st = cluster_->attach(in_.hello(), session_);
        if (st.ok()) {
          node_id_ = in_.hello().node_id();
          epoch_ = in_.hello().epoch();
        }
      }
    } else {
      st = cluster_->on_agent_message(node_id_, epoch_, &in_);
    }
    if (!st.ok()) {
      logger("node_gateway")
          ->warn("closing Connect stream of {}: {}",
                 node_id_.empty() ? in_.hello().node_id() : node_id_, st.ToString());
      session_->close(to_grpc(st));
      return;
    }
    std::lock_guard<std::mutex> lock(session_->mu);
    if (!finish_requested_) {
      StartRead(&in_);
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(session_->mu);
    writing_ = false;
    if (!ok) {
      // The front may or may not have reached the agent: it stays queued and
      // is handed back with the rest in OnDone (a duplicate is harmless).
      broken_ = true;
      if (!finish_requested_) {
        finish_requested_ = true;
        finish_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken");
      }
    } else {
      queue_.pop_front();
    }
    write_next_locked();
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(session_->mu);
      session_->reactor = nullptr;
      for (auto& m : queue_.take_all()) {
        session_->unsent.push_back(std::move(m));
      }
    }
    if (!node_id_.empty()) {
      cluster_->detach(node_id_, session_.get());
    }
    delete this;
  }

  // REQUIRES(session_->mu)
  void enqueue_locked(v1::CoordinatorMessage&& msg) {
    // Also after a finish was requested: written if the stream still drains,
    // else handed back in OnDone.
    queue_.push(std::move(msg), /*front_busy=*/writing_);
    if (!writing_) {
      write_next_locked();
    }
  }

  // REQUIRES(session_->mu)
  void close_locked(const grpc::Status& status) {
    if (finish_requested_) {
      return;
    }
    finish_requested_ = true;
    finish_status_ = status;
    if (!writing_) {
      write_next_locked();
    }
  }

 private:
  // REQUIRES(session_->mu). The queue's front is the message being written.
  void write_next_locked() {
    if (writing_ || finished_) {
      return;
    }
    if (!broken_ && !queue_.empty()) {
      writing_ = true;
      StartWrite(&queue_.front());
      return;
    }
    if (finish_requested_) {
      finished_ = true;
      Finish(finish_status_);
    }
  }

  Cluster* cluster_;
  const std::string identity_;
  std::shared_ptr<Session> session_;
  v1::AgentMessage in_;  // the read buffer; touched only by the read chain
  std::string node_id_;  // set once by the read chain after a good hello
  uint64_t epoch_ = 0;
  // GUARDED_BY(session_->mu)
  Outbox queue_;  // front() is the message being written while writing_
  bool writing_ = false;
  bool broken_ = false;  // a write failed: write nothing more, finish
  bool finish_requested_ = false;
  bool finished_ = false;
  grpc::Status finish_status_;
};

// ---------------------------------------------------------------------------
// FetchBinary

class FetchReactor : public grpc::ServerWriteReactor<v1::BinaryChunk> {
 public:
  FetchReactor(int fd, uint64_t offset, uint64_t size) : fd_(fd), offset_(offset), size_(size) {
    next();
  }
  ~FetchReactor() override { ::close(fd_); }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    next();
  }

  void OnDone() override { delete this; }

 private:
  void next() {
    if (offset_ >= size_) {
      Finish(grpc::Status::OK);
      return;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(kFetchChunk, size_ - offset_));
    std::string data(n, '\0');
    ssize_t got = ::pread(fd_, data.data(), n, static_cast<off_t>(offset_));
    if (got <= 0) {
      Finish(grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("read stored binary: ", got < 0 ? std::strerror(errno) : "unexpected end")));
      return;
    }
    data.resize(static_cast<size_t>(got));
    chunk_.set_offset(offset_);
    chunk_.set_total_size(size_);
    chunk_.set_data(std::move(data));
    offset_ += static_cast<uint64_t>(got);
    StartWrite(&chunk_);
  }

  int fd_;
  uint64_t offset_;
  const uint64_t size_;
  v1::BinaryChunk chunk_;
};

template <typename Msg>
class FailedWriter : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit FailedWriter(const grpc::Status& st) { this->Finish(st); }
  void OnDone() override { delete this; }
};

class FailedBidi : public grpc::ServerBidiReactor<v1::AgentMessage, v1::CoordinatorMessage> {
 public:
  explicit FailedBidi(const grpc::Status& st) { Finish(st); }
  void OnDone() override { delete this; }
};

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, const grpc::Status& st) {
  auto* r = ctx->DefaultReactor();
  r->Finish(st);
  return r;
}

}  // namespace

NodeGatewayService::NodeGatewayService(Cluster* cluster, CertAuthority* ca,
                                       const Authenticator* authenticator)
    : cluster_(cluster), ca_(ca), authenticator_(authenticator) {}

std::string NodeGatewayService::node_identity_of(const grpc::CallbackServerContext& ctx) const {
  auto p = authenticator_->principal(ctx);
  return p.ok() && p->role == Principal::Role::kNode ? p->name : std::string();
}

grpc::ServerUnaryReactor* NodeGatewayService::Register(grpc::CallbackServerContext* ctx,
                                                       const v1::RegisterRequest* req,
                                                       v1::RegisterResponse* resp) {
  if (auto st = authenticator_->authorize(*ctx, {Principal::Role::kNode}, "NodeGateway.Register");
      !st.ok()) {
    return finish(ctx, st);
  }
  auto out = cluster_->register_node(*req, node_identity_of(*ctx));
  if (out.ok()) {
    *resp = *out;
  }
  return finish(ctx, to_grpc(out.status()));
}

grpc::ServerBidiReactor<v1::AgentMessage, v1::CoordinatorMessage>* NodeGatewayService::Connect(
    grpc::CallbackServerContext* ctx) {
  if (auto st = authenticator_->authorize(*ctx, {Principal::Role::kNode}, "NodeGateway.Connect");
      !st.ok()) {
    return new FailedBidi(st);
  }
  return new ConnectReactor(cluster_, node_identity_of(*ctx));
}

grpc::ServerWriteReactor<v1::BinaryChunk>* NodeGatewayService::FetchBinary(
    grpc::CallbackServerContext* ctx, const v1::FetchBinaryRequest* req) {
  if (auto st =
          authenticator_->authorize(*ctx, {Principal::Role::kNode}, "NodeGateway.FetchBinary");
      !st.ok()) {
    return new FailedWriter<v1::BinaryChunk>(st);
  }
  auto size = cluster_->binaries().size_of(req->sha256());
  if (!size.ok()) {
    return new FailedWriter<v1::BinaryChunk>(to_grpc(size.status()));
  }
  if (req->offset() > *size) {
    return new FailedWriter<v1::BinaryChunk>(grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        absl::StrCat("offset ", req->offset(), " is past the binary's ", *size, " bytes")));
  }
  int fd = ::open(cluster_->binaries().path_of(req->sha256()).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return new FailedWriter<v1::BinaryChunk>(grpc::Status(
        grpc::StatusCode::INTERNAL, absl::StrCat("open stored binary: ", std::strerror(errno))));
  }
  return new FetchReactor(fd, req->offset(), *size);
}

grpc::ServerUnaryReactor* NodeGatewayService::Join(grpc::CallbackServerContext* ctx,
                                                   const v1::JoinRequest* req,
                                                   v1::JoinResponse* resp) {
  if (auto st = authenticator_->authorize(*ctx, {Principal::Role::kBootstrap}, "NodeGateway.Join");
      !st.ok()) {
    return finish(ctx, st);
  }
  if (ca_ == nullptr) {
    return finish(ctx, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "this coordinator serves loopback only and takes no joins; "
                                    "start it with --listen ADDR (TLS) to admit other hosts"));
  }
  for (const auto& n : cluster_->list_nodes(/*include_dead=*/false)) {
    if (n.identity() == req->node_name()) {
      return finish(ctx, grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                                      absl::StrCat("a live node (", n.node_id(),
                                                   ") is registered as '", req->node_name(),
                                                   "'; pick another --node-name, or `skein nodes "
                                                   "remove ",
                                                   req->node_name(), "` first")));
    }
  }
  auto p = authenticator_->principal(*ctx);
  const std::string token_id = p.ok() && p->role == Principal::Role::kBootstrap ? p->name : "";
  auto issued = ca_->issue_node(token_id, req->node_name(), req->csr_pem());
  if (!issued.ok()) {
    return finish(ctx, to_grpc(issued.status()));
  }
  logger("node_gateway")
      ->info("node certificate for '{}' issued (serial {}, join token {})", req->node_name(),
             issued->serial, token_id.empty() ? "-" : token_id);
  resp->set_cert_pem(issued->cert_pem);
  resp->set_ca_pem(ca_->ca_pem());
  resp->set_not_after_unix_ms(issued->not_after_unix * 1000);
  return finish(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* NodeGatewayService::RenewCertificate(
    grpc::CallbackServerContext* ctx, const v1::RenewCertificateRequest* req,
    v1::JoinResponse* resp) {
  auto p = authenticator_->principal(*ctx);
  if (!p.ok() || p->role != Principal::Role::kNode) {
    return finish(ctx, grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                    "only a node certificate can be renewed, by its holder"));
  }
  if (ca_ == nullptr) {
    return finish(ctx, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "this coordinator has no cluster CA (loopback token mode)"));
  }
  auto issued = ca_->issue_node("", p->name, req->csr_pem());
  if (!issued.ok()) {
    return finish(ctx, to_grpc(issued.status()));
  }
  resp->set_cert_pem(issued->cert_pem);
  resp->set_ca_pem(ca_->ca_pem());
  resp->set_not_after_unix_ms(issued->not_after_unix * 1000);
  return finish(ctx, grpc::Status::OK);
}

}  // namespace skein::coordinator
