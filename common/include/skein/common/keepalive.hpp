// Connection liveness between agents and the coordinator.
//
// A network partition drops packets silently: a TCP connection then looks
// alive until its retransmissions give up (minutes), and after the heal the
// sender waits out TCP's exponential retransmission backoff (tens of
// seconds). So agents send HTTP/2 keepalive pings every kKeepaliveTime and
// drop a connection that does not answer within kKeepaliveTimeout; the
// coordinator must accept pings that often (gRPC servers otherwise answer
// frequent pings with GOAWAY "too_many_pings"). The two sides share these
// numbers, so they live here.
#pragma once

#include <grpcpp/server_builder.h>

#include <chrono>

namespace skein {

inline constexpr std::chrono::milliseconds kKeepaliveTime{2000};
inline constexpr std::chrono::milliseconds kKeepaliveTimeout{2000};
// The least time one connection attempt (TCP + TLS handshake) is given.
inline constexpr std::chrono::milliseconds kMinConnectTimeout{5000};

// Server side: accept the agents' pings, with or without calls in flight,
// and ping idle clients too so a dead one is noticed.
inline void accept_keepalive_pings(grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(kKeepaliveTime.count() / 2));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
}

}  // namespace skein
