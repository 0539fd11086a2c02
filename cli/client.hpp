// Client: the CLI's connection to skein-coordinator.
//
// Every call carries the CLI's credential (a client certificate from the
// config file's current context, or the admin token; options.hpp says which
// wins) and a deadline (GlobalOptions::timeout for unary calls;
// streams that follow a job have none but can be interrupted). Errors leave
// the CLI as one readable line on stderr and a non-zero exit code:
//
//   auto client = Client::connect(opts);
//   if (!client.ok()) return fail("jobs", client.status());
#pragma once

#include <grpcpp/client_context.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "options.hpp"
#include "skein/v1/coordinator.grpc.pb.h"

namespace skein::cli {

class Client {
 public:
  static absl::StatusOr<Client> connect(const GlobalOptions& opts);

  skein::v1::Coordinator::Stub& stub() { return *stub_; }
  // A context with the unary deadline set.
  std::unique_ptr<grpc::ClientContext> unary_context() const;
  const std::string& address() const { return address_; }

  // Turns an RPC status into one line for the user (names the coordinator
  // address for UNAVAILABLE, the token file for UNAUTHENTICATED).
  absl::Status explain(const grpc::Status& status) const;

 private:
  std::string address_;
  std::string credential_;  // what authenticated us, for error messages
  std::chrono::milliseconds timeout_{10000};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<skein::v1::Coordinator::Stub> stub_;
};

// Prints "skein <verb>: <message>" to stderr and returns kExitError.
int fail(const std::string& verb, const absl::Status& status);

}  // namespace skein::cli
