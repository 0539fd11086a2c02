// echo_server: the server half of the bare gRPC unary baseline (issue 5,
// latency target). One Echo service on gRPC's callback API, listening on
// 127.0.0.1 with an ephemeral port; it answers each call inline in the
// reaction (nothing to wait for), which is the cheapest a unary call can be.
// Stream echoes every message of a bidirectional stream the same way.
//
// Prints "port N" on stdout once it serves, then runs until SIGTERM or SIGINT.
// Insecure credentials on loopback: this is a benchmark baseline, and the
// round trip it measures should be gRPC's own, without TLS or token checks.
#include <csignal>
#include <cstdio>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "bench/grpc/echo.grpc.pb.h"

namespace {

// One Stream call: read a message, write it back, read the next. One read or
// one write in flight at a time, so msg_ is never touched by both.
class StreamEcho final
    : public grpc::ServerBidiReactor<skein::bench::EchoMessage, skein::bench::EchoMessage> {
 public:
  StreamEcho() { StartRead(&msg_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);  // the client closed its side
      return;
    }
    StartWrite(&msg_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    StartRead(&msg_);
  }
  void OnDone() override { delete this; }

 private:
  skein::bench::EchoMessage msg_;
};

class EchoService final : public skein::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const skein::bench::EchoMessage* request,
                                 skein::bench::EchoMessage* reply) override {
    *reply = *request;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerBidiReactor<skein::bench::EchoMessage, skein::bench::EchoMessage>* Stream(
      grpc::CallbackServerContext* /*context*/) override {
    return new StreamEcho();
  }
};

}  // namespace

int main() {
  // Block the stop signals before gRPC starts its threads (they inherit the
  // mask), so only sigwait below ever sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop, nullptr) != 0) {
    std::perror("echo_server: pthread_sigmask");
    return 1;
  }

  EchoService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "echo_server: cannot listen on 127.0.0.1\n");
    return 1;
  }
  std::printf("port %d\n", port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  server->Shutdown();
  return 0;
}
