// Authentication of every Skein listener and client: who is calling.
//
// Principals (DESIGN.md section 8), each a separate identity:
//   admin      the admin token file on the coordinator's host, or a client
//              certificate with role admin: may call every method;
//   user       a client certificate with role user: jobs, logs, nodes, stats;
//   node       a node agent's certificate: the NodeGateway service only;
//   bootstrap  a short-lived join token: NodeGateway.Join only.
// Authorization (which principal may call which method) is the services'
// business: they call Authenticator::authorize() first thing, with the roles
// allowed.
//
// Server side, two transports (chosen by make_server_auth):
//   - loopback without TLS: LocalServerCredentials(LOCAL_TCP) + the admin
//     token (single-user local clusters, tests);
//   - TLS (always, off loopback): the server certificate, and the cluster CA
//     to verify client certificates. Client certificates are requested and
//     verified when presented but not required by the handshake, because a
//     joining host has none yet; every method but Join then needs one (or
//     the admin token).
// Either way a ClusterAuthProcessor runs before any handler, on every
// method, and refuses a call without a valid credential; the handlers then
// ask the same Authenticator who the caller is (verified certificate first,
// else the bearer token; revoked certificates refused) and whether that
// principal may call them. Comparison of tokens is constant-time; rejections
// are generic and never echo what was sent. The token stays in the call's
// metadata (the handlers need it to identify the caller); no handler logs
// metadata.
// There is no plaintext mode off loopback.
//
// Client side: make_channel() returns a channel carrying the client's
// certificate (mTLS) and/or a bearer token.
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

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein {

inline constexpr char kAuthMetadataKey[] = "authorization";
inline constexpr char kBearerPrefix[] = "Bearer ";

// PEM file paths. Server: cert + key required, ca optional (when set, client
// certificates are requested and verified). Client: ca required, cert + key
// optional (for mTLS).
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;

  bool enabled() const { return !cert_file.empty() || !ca_file.empty(); }
};

struct AuthConfig {
  // Server: the admin token (required). Client: a bearer token to send
  // (admin or bootstrap), optional when a client certificate is configured.
  // Never log this struct.
  std::string token;
  TlsFiles tls;
};

// Who is calling, as the processor found it.
struct Principal {
  enum class Role { kAdmin, kUser, kNode, kBootstrap };
  Role role = Role::kUser;
  std::string name;  // certificate name, bootstrap token id, or "admin-token"
};

std::string_view principal_role_name(Principal::Role role);

// The coordinator's live view of credentials the processor cannot judge
// from the bytes alone. Implementations are thread-safe and fast (called
// inline on gRPC threads, once per call).
class CredentialDirectory {
 public:
  virtual ~CredentialDirectory() = default;
  // The token id of a valid (unexpired, unrevoked) bootstrap token.
  virtual std::optional<std::string> bootstrap_token_id(std::string_view token) const = 0;
  virtual bool certificate_revoked(std::string_view serial) const = 0;
};

// Checks "authorization: Bearer <token>" against the cluster token.
class TokenVerifier {
 public:
  explicit TokenVerifier(std::string token);

  // True iff `header_value` is exactly "Bearer <token>". Constant time in
  // the token's bytes.
  bool matches(std::string_view header_value) const;

 private:
  std::string expected_;  // "Bearer <token>"
};

// Who is calling, found from what the call itself carries: a client
// certificate the TLS handshake verified (refused if revoked), else a bearer
// token (the admin token, or a live join token). Immutable and thread-safe.
// It never writes to a call's AuthContext: gRPC 1.51 shares one AuthContext
// between all calls of a connection, so properties added per call race with
// concurrent readers (an assertion abort in security_context.cc) and pile up
// on long-lived connections. The processor and the handlers both ask it.
class Authenticator {
 public:
  using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

  // `directory` may be null (no join tokens, no revocations).
  Authenticator(std::string admin_token, const CredentialDirectory* directory);

  // UNAUTHENTICATED with a generic message unless one credential checks out.
  absl::StatusOr<Principal> identify(const grpc::AuthContext& auth, const Metadata& metadata) const;
  // identify() for a call in a handler.
  absl::StatusOr<Principal> principal(const grpc::ServerContextBase& ctx) const;
  // OK iff the caller is admin or has one of `allowed` roles;
  // UNAUTHENTICATED without a credential, PERMISSION_DENIED naming the
  // principal and `method` otherwise.
  grpc::Status authorize(const grpc::ServerContextBase& ctx,
                         std::initializer_list<Principal::Role> allowed,
                         std::string_view method) const;

 private:
  TokenVerifier admin_;
  const CredentialDirectory* directory_;
};

// gRPC AuthMetadataProcessor: refuses every call without a valid credential
// before any handler runs, on every method, implemented or not.
class ClusterAuthProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit ClusterAuthProcessor(std::shared_ptr<const Authenticator> authenticator)
      : authenticator_(std::move(authenticator)) {}

  // In-memory lookups only: runs inline on the gRPC thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  std::shared_ptr<const Authenticator> authenticator_;
};

struct ServerAuth {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // For the services' authorize(); lives as long as any holder.
  std::shared_ptr<const Authenticator> authenticator;
  bool tls = false;
};

// Applies the bind policy (bind_policy.hpp) to `listen_address`, then builds
// the credentials described above. INVALID_ARGUMENT for an empty token,
// NOT_FOUND / INTERNAL for unreadable TLS files. With TLS, `config.tls.ca_file`
// is the CA that verifies client certificates (required off loopback).
absl::StatusOr<ServerAuth> make_server_auth(const AuthConfig& config,
                                            std::string_view listen_address,
                                            const CredentialDirectory* directory = nullptr);

// A channel to `target` ("host:port"): TLS when config.tls.ca_file is set
// (with the client certificate when cert/key are set), else loopback-only
// local credentials. The token, when set, rides on every call. Refuses
// (PERMISSION_DENIED) a non-loopback target without TLS, and a channel with
// neither a token nor a client certificate (INVALID_ARGUMENT).
absl::StatusOr<std::shared_ptr<grpc::Channel>> make_channel(
    const std::string& target, const AuthConfig& config,
    const grpc::ChannelArguments& args = grpc::ChannelArguments());

// The same with the credentials in memory (PEM text), as `skein` keeps them
// in its config file.
struct PemCredentials {
  std::string token;
  std::string ca;
  std::string cert;
  std::string key;
};
absl::StatusOr<std::shared_ptr<grpc::Channel>> make_channel(
    const std::string& target, const PemCredentials& pem,
    const grpc::ChannelArguments& args = grpc::ChannelArguments());

}  // namespace skein
