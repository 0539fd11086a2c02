#include "client.hpp"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "config_file.hpp"
#include "skein/common/auth.hpp"
#include "skein/common/status.hpp"
#include "skein/common/token.hpp"

namespace skein::cli {

absl::StatusOr<Client> Client::connect(const GlobalOptions& opts) {
  Client c;
  c.timeout_ = opts.timeout();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  const bool explicit_address =
      !opts.coordinator.empty() ||
      (std::getenv("SKEIN_COORDINATOR") != nullptr && *std::getenv("SKEIN_COORDINATOR") != '\0');
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel;
  auto config = ConfigFile::load(opts.resolved_config());
  if (!explicit_address && config.ok()) {
    auto context = config->current_context();
    if (!context.ok()) {
      return absl::Status(context.status().code(),
                          absl::StrCat(opts.resolved_config(), ": ", context.status().message()));
    }
    c.address_ = context->server;
    c.credential_ = absl::StrCat("context '", config->current, "' of ", opts.resolved_config());
    PemCredentials pem{.token = "", .ca = context->ca, .cert = context->cert, .key = context->key};
    if (pem.cert.empty()) {
      // A loopback cluster's context: the admin token next to the config.
      auto token = load_token(opts.resolved_token_file());
      if (!token.ok()) {
        return absl::Status(token.status().code(),
                            absl::StrCat("admin token (", opts.resolved_token_file(),
                                         "): ", token.status().message()));
      }
      pem.token = *token;
    }
    channel = make_channel(c.address_, pem, args);
  } else {
    if (!explicit_address && config.status().code() != absl::StatusCode::kNotFound) {
      return config.status();
    }
    auto addr = opts.resolved_coordinator();
    if (!addr.ok()) {
      return addr.status();
    }
    c.address_ = *addr;
    AuthConfig auth;
    auth.tls = TlsFiles{opts.tls_cert, opts.tls_key, opts.tls_ca};
    if (opts.tls_cert.empty()) {
      const std::string token_file = opts.resolved_token_file();
      auto token = load_token(token_file);
      if (!token.ok()) {
        return absl::Status(token.status().code(), absl::StrCat("cluster token (", token_file,
                                                                "): ", token.status().message()));
      }
      auth.token = *token;
      c.credential_ = absl::StrCat("the token in ", token_file);
    } else {
      c.credential_ = absl::StrCat("the certificate ", opts.tls_cert);
    }
    channel = make_channel(c.address_, auth, args);
  }
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
      return absl::UnavailableError(absl::StrCat(
          "cannot reach the coordinator at ", address_,
          " (is the cluster up? `skein up`; a wrong CA or an expired certificate fails the same "
          "way): ",
          s.message()));
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(absl::StrCat(
          "the coordinator at ", address_, " did not answer within ", timeout_.count(), " ms"));
    case absl::StatusCode::kUnauthenticated:
      return absl::UnauthenticatedError(absl::StrCat("the coordinator at ", address_, " rejected ",
                                                     credential_, ": ", s.message(),
                                                     " (UNAUTHENTICATED)"));
    case absl::StatusCode::kPermissionDenied:
      return absl::PermissionDeniedError(
          absl::StrCat(s.message(), " (", credential_,
                       "; an admin credential is needed: `skein config use-context`)"));
    default:
      return absl::Status(s.code(), absl::StrCat(s.message(), " (", code_name(s.code()), ")"));
  }
}

int fail(const std::string& verb, const absl::Status& status) {
  std::fprintf(stderr, "skein %s: %s\n", verb.c_str(), std::string(status.message()).c_str());
  return kExitError;
}

}  // namespace skein::cli
