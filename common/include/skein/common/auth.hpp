// Cluster-token authentication for every Skein listener and client.
//
// Server side, three transports (chosen by make_server_auth):
//   - loopback, no TLS: grpc::experimental::LocalServerCredentials(LOCAL_TCP)
//     with a TokenAuthProcessor installed. The processor runs before any
//     handler on every method, so an unlisted method cannot be reached
//     without the token. (InsecureServerCredentials cannot carry a
//     processor: SetAuthMetadataProcessor on it aborts in gRPC 1.51.)
//   - TLS: SslServerCredentials (client certificate optional or required)
//     with the same processor.
//   - --insecure on a non-loopback address: InsecureServerCredentials, which
//     cannot carry a processor, so ServerAuth::handlers_must_check is true and
//     every handler calls TokenVerifier::check_call first.
// The processor consumes the "authorization" entry: handlers never see the
// token. Comparison is constant-time (CRYPTO_memcmp); the rejection message
// is generic and never echoes what the client sent.
//
// Client side: make_channel() returns a channel whose every call carries the
// token — LocalCredentials or SslCredentials composed with
// AccessTokenCredentials, or, for --insecure, a client interceptor that adds
// the same header.
//
//   AuthConfig auth{.token = *load_token(path)};
//   SKEIN_ASSIGN_OR_RETURN(ServerAuth sa, make_server_auth(auth, "127.0.0.1:0"));
//   builder.AddListeningPort("127.0.0.1:0", sa.credentials, &port);
//   ...
//   SKEIN_ASSIGN_OR_RETURN(auto channel, make_channel("127.0.0.1:7000", auth));
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein {

inline constexpr char kAuthMetadataKey[] = "authorization";
inline constexpr char kBearerPrefix[] = "Bearer ";

// PEM file paths. Server: cert + key required, ca optional (when set, client
// certificates are required and verified: mTLS). Client: ca required, cert +
// key optional (for mTLS).
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;

  bool enabled() const { return !cert_file.empty() || !ca_file.empty(); }
};

struct AuthConfig {
  std::string token;  // the cluster token itself (never log this struct)
  TlsFiles tls;
  bool insecure = false;  // plaintext allowed on non-loopback addresses
};

// Checks "authorization: Bearer <token>" against the cluster token.
class TokenVerifier {
 public:
  explicit TokenVerifier(std::string token);

  // True iff `header_value` is exactly "Bearer <token>". Constant time in
  // the token's bytes.
  bool matches(std::string_view header_value) const;

  // For handlers when ServerAuth::handlers_must_check: UNAUTHENTICATED unless
  // the call's metadata carries the token.
  grpc::Status check_call(const grpc::ServerContextBase& ctx) const;

 private:
  std::string expected_;  // "Bearer <token>"
};

// gRPC AuthMetadataProcessor gating every call on the token.
class TokenAuthProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenAuthProcessor(std::string token);

  // An in-memory compare: runs inline on the gRPC thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  TokenVerifier verifier_;
};

struct ServerAuth {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // True in --insecure mode: the credentials carry no processor and handlers
  // must call TokenVerifier::check_call themselves.
  bool handlers_must_check = false;
};

// Applies the bind policy (bind_policy.hpp) to `listen_address`, then builds
// the credentials described above. INVALID_ARGUMENT for an empty token,
// NOT_FOUND / INTERNAL for unreadable TLS files.
absl::StatusOr<ServerAuth> make_server_auth(const AuthConfig& config,
                                            std::string_view listen_address);

// A channel to `target` ("host:port") whose every call carries the token.
// Refuses (PERMISSION_DENIED) a non-loopback target without TLS unless
// config.insecure.
absl::StatusOr<std::shared_ptr<grpc::Channel>> make_channel(
    const std::string& target, const AuthConfig& config,
    const grpc::ChannelArguments& args = grpc::ChannelArguments());

// The --insecure transport on its own: plaintext, with a client interceptor
// adding the bearer header to every call (call credentials are refused on
// plaintext channels). make_channel uses it for non-loopback targets when
// config.insecure; exposed so tests can exercise it on 127.0.0.1.
std::shared_ptr<grpc::Channel> make_plaintext_channel(
    const std::string& target, const std::string& token,
    const grpc::ChannelArguments& args = grpc::ChannelArguments());

}  // namespace skein
