#include "client.hpp"

#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "skein/common/auth.hpp"
#include "skein/common/status.hpp"
#include "skein/common/token.hpp"

namespace skein::cli {

absl::StatusOr<Client> Client::connect(const GlobalOptions& opts) {
  Client c;
  auto addr = opts.resolved_coordinator();
  if (!addr.ok()) {
    return addr.status();
  }
  c.address_ = *addr;
  c.token_file_ = opts.resolved_token_file();
  c.timeout_ = opts.timeout();
  auto token = load_token(c.token_file_);
  if (!token.ok()) {
    return absl::Status(token.status().code(), absl::StrCat("cluster token (", c.token_file_,
                                                            "): ", token.status().message()));
  }
  AuthConfig auth;
  auth.token = *token;
  auth.tls.ca_file = opts.tls_ca;
  auth.insecure = opts.insecure;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  auto channel = make_channel(c.address_, auth, args);
  if (!channel.ok()) {
    return channel.status();
  }
  c.channel_ = *channel;
  c.stub_ = skein::v1::Coordinator::NewStub(c.channel_);
  return c;
}

std::unique_ptr<grpc::ClientContext> Client::unary_context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
  return ctx;
}

absl::Status Client::explain(const grpc::Status& status) const {
  absl::Status s = from_grpc(status);
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return s;
    case absl::StatusCode::kUnavailable:
      return absl::UnavailableError(
          absl::StrCat("cannot reach the coordinator at ", address_,
                       " (is the cluster up? `skein up`): ", s.message()));
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(absl::StrCat(
          "the coordinator at ", address_, " did not answer within ", timeout_.count(), " ms"));
    case absl::StatusCode::kUnauthenticated:
      return absl::UnauthenticatedError(absl::StrCat(
          "the coordinator rejected the cluster token from ", token_file_, " (UNAUTHENTICATED)"));
    default:
      return absl::Status(s.code(), absl::StrCat(s.message(), " (", code_name(s.code()), ")"));
  }
}

int fail(const std::string& verb, const absl::Status& status) {
  std::fprintf(stderr, "skein %s: %s\n", verb.c_str(), std::string(status.message()).c_str());
  return kExitError;
}

}  // namespace skein::cli
