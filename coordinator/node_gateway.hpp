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
#pragma once

#include "cluster.hpp"
#include "skein/common/auth.hpp"
#include "skein/v1/node.grpc.pb.h"

namespace skein::coordinator {

class NodeGatewayService final : public v1::NodeGateway::CallbackService {
 public:
  // `verifier` is null unless handlers must check the token themselves.
  NodeGatewayService(Cluster* cluster, const TokenVerifier* verifier);

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* req,
                                     v1::RegisterResponse* resp) override;
  grpc::ServerBidiReactor<v1::AgentMessage, v1::CoordinatorMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerWriteReactor<v1::BinaryChunk>* FetchBinary(
      grpc::CallbackServerContext* ctx, const v1::FetchBinaryRequest* req) override;

 private:
  Cluster* cluster_;
  const TokenVerifier* verifier_;
};

}  // namespace skein::coordinator
