// NodeGatewayService: the skein.v1.NodeGateway gRPC service that node agents
// call (Register, Connect, FetchBinary), on the callback API.
//
// Connect is one ServerBidiReactor per agent stream, exposed to Cluster as a
// NodeSession. Reads: one in flight; each message is handed to Cluster
// (attach for the hello, on_agent_message after) with no reactor lock held,
// then the next read starts. Writes: Cluster queues CoordinatorMessages with
// send() from any thread; the reactor writes them one at a time in order, and
// close() finishes the stream after the queue drains. A Cluster error on a
// message (dead node, malformed message) finishes the stream with that status.
//
// FetchBinary streams a stored file in 1 MiB chunks, one write in flight.
//
// Authorization: Register, Connect, FetchBinary and RenewCertificate need a
// node certificate (or the admin token of a loopback cluster); Join needs a
// bootstrap token. A node registered with a certificate is bound to that
// certificate's name: a Connect for its node id from any other certificate
// is refused (one node cannot speak for another).
#pragma once

#include "cert_authority.hpp"
#include "cluster.hpp"
#include "skein/common/auth.hpp"
#include "skein/v1/node.grpc.pb.h"

namespace skein::coordinator {

class NodeGatewayService final : public v1::NodeGateway::CallbackService {
 public:
  // `ca` is null on a loopback token-mode coordinator (Join and
  // RenewCertificate then fail FAILED_PRECONDITION).
  // `authenticator` identifies callers (it outlives the service).
  NodeGatewayService(Cluster* cluster, CertAuthority* ca, const Authenticator* authenticator);

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* req,
                                     v1::RegisterResponse* resp) override;
  grpc::ServerBidiReactor<v1::AgentMessage, v1::CoordinatorMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerWriteReactor<v1::BinaryChunk>* FetchBinary(
      grpc::CallbackServerContext* ctx, const v1::FetchBinaryRequest* req) override;
  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* ctx, const v1::JoinRequest* req,
                                 v1::JoinResponse* resp) override;
  grpc::ServerUnaryReactor* RenewCertificate(grpc::CallbackServerContext* ctx,
                                             const v1::RenewCertificateRequest* req,
                                             v1::JoinResponse* resp) override;

 private:
  // The caller's node certificate name, "" for the admin token.
  std::string node_identity_of(const grpc::CallbackServerContext& ctx) const;

  Cluster* cluster_;
  CertAuthority* ca_;
  const Authenticator* authenticator_;
};

}  // namespace skein::coordinator
