#include "skein/common/auth.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <openssl/crypto.h>

#include <fstream>
#include <sstream>
#include <vector>

#include <grpc/grpc_security_constants.h>

#include "absl/strings/str_cat.h"
#include "skein/common/bind_policy.hpp"
#include "skein/common/pki.hpp"

namespace skein {
namespace {

// Deliberately the same text for "missing" and "wrong": an attacker learns
// nothing from the difference.
constexpr char kRejectMessage[] = "missing or invalid cluster token";

absl::StatusOr<std::string> read_pem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read TLS ", what, " file ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("TLS ", what, " file ", path, " is empty"));
  }
  return ss.str();
}

// The PEM text of the files `files` names: the CA if set, certificate and
// key if the certificate is set.
absl::StatusOr<PemCredentials> read_tls_files(const TlsFiles& files) {
  PemCredentials pem;
  if (!files.ca_file.empty()) {
    auto ca = read_pem(files.ca_file, "CA");
    if (!ca.ok()) {
      return ca.status();
    }
    pem.ca = *std::move(ca);
  }
  if (!files.cert_file.empty()) {
    auto cert = read_pem(files.cert_file, "certificate");
    if (!cert.ok()) {
      return cert.status();
    }
    auto key = read_pem(files.key_file, "key");
    if (!key.ok()) {
      return key.status();
    }
    pem.cert = *std::move(cert);
    pem.key = *std::move(key);
  }
  return pem;
}

std::optional<Principal::Role> principal_role_of(pki::Role role) {
  switch (role) {
    case pki::Role::kAdmin:
      return Principal::Role::kAdmin;
    case pki::Role::kUser:
      return Principal::Role::kUser;
    case pki::Role::kNode:
      return Principal::Role::kNode;
    case pki::Role::kCoordinator:
      return std::nullopt;  // a server certificate is no client identity
  }
  return std::nullopt;
}

}  // namespace

TokenVerifier::TokenVerifier(std::string token) : expected_(std::string(kBearerPrefix) + token) {}

bool TokenVerifier::matches(std::string_view header_value) const {
  // The length is not secret (every token is 64 hex chars), so comparing it
  // first leaks nothing; the bytes are compared in constant time.
  if (header_value.size() != expected_.size()) {
    return false;
  }
  return CRYPTO_memcmp(header_value.data(), expected_.data(), expected_.size()) == 0;
}

std::string_view principal_role_name(Principal::Role role) {
  switch (role) {
    case Principal::Role::kAdmin:
      return "admin";
    case Principal::Role::kUser:
      return "user";
    case Principal::Role::kNode:
      return "node";
    case Principal::Role::kBootstrap:
      return "bootstrap";
  }
  return "unknown";
}

Authenticator::Authenticator(std::string admin_token, const CredentialDirectory* directory)
    : admin_(std::move(admin_token)), directory_(directory) {}

absl::StatusOr<Principal> Authenticator::identify(const grpc::AuthContext& auth,
                                                  const Metadata& metadata) const {
  // A client certificate is only present here once the TLS handshake
  // verified it against the cluster CA.
  auto pems = auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (!pems.empty()) {
    auto info = pki::inspect(std::string_view(pems.front().data(), pems.front().size()));
    if (!info.ok() || info->name.empty()) {
      return absl::UnauthenticatedError("the client certificate carries no Skein identity");
    }
    auto role = principal_role_of(info->role);
    if (!role) {
      return absl::UnauthenticatedError(
          "a server certificate cannot be used as a client credential");
    }
    if (directory_ != nullptr && directory_->certificate_revoked(info->serial)) {
      return absl::UnauthenticatedError(
          absl::StrCat("certificate of ", std::string(principal_role_name(*role)), " '", info->name,
                       "' (serial ", info->serial, ") was revoked; join again with a new token"));
    }
    return Principal{*role, info->name};
  }
  auto range = metadata.equal_range(kAuthMetadataKey);
  for (auto it = range.first; it != range.second; ++it) {
    std::string_view value(it->second.data(), it->second.size());
    if (admin_.matches(value)) {
      return Principal{Principal::Role::kAdmin, "admin-token"};
    }
    if (directory_ != nullptr && value.substr(0, sizeof(kBearerPrefix) - 1) == kBearerPrefix) {
      if (auto id = directory_->bootstrap_token_id(value.substr(sizeof(kBearerPrefix) - 1))) {
        return Principal{Principal::Role::kBootstrap, *id};
      }
    }
  }
  return absl::UnauthenticatedError(kRejectMessage);
}

absl::StatusOr<Principal> Authenticator::principal(const grpc::ServerContextBase& ctx) const {
  auto auth = ctx.auth_context();
  if (auth == nullptr) {
    return absl::UnauthenticatedError(kRejectMessage);
  }
  return identify(*auth, ctx.client_metadata());
}

grpc::Status Authenticator::authorize(const grpc::ServerContextBase& ctx,
                                      std::initializer_list<Principal::Role> allowed,
                                      std::string_view method) const {
  auto p = principal(ctx);
  if (!p.ok()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(p.status().message()));
  }
  if (p->role == Principal::Role::kAdmin) {
    return grpc::Status::OK;
  }
  for (auto r : allowed) {
    if (r == p->role) {
      return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      absl::StrCat(std::string(principal_role_name(p->role)), " '", p->name,
                                   "' may not call ", std::string(method)));
}

grpc::Status ClusterAuthProcessor::Process(const InputMetadata& auth_metadata,
                                           grpc::AuthContext* context,
                                           OutputMetadata* /*consumed_auth_metadata*/,
                                           OutputMetadata* /*response_metadata*/) {
  auto p = authenticator_->identify(*context, auth_metadata);
  return p.ok()
             ? grpc::Status::OK
             : grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(p.status().message()));
}

absl::StatusOr<ServerAuth> make_server_auth(const AuthConfig& config,
                                            std::string_view listen_address,
                                            const CredentialDirectory* directory) {
  if (config.token.empty()) {
    return absl::InvalidArgumentError("no admin token configured");
  }
  bool tls = !config.tls.cert_file.empty();
  if (config.tls.enabled() && (config.tls.cert_file.empty() || config.tls.key_file.empty())) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  if (auto s = check_bind_policy(listen_address, tls); !s.ok()) {
    return s;
  }
  ServerAuth out;
  out.authenticator = std::make_shared<const Authenticator>(config.token, directory);
  auto processor = std::make_shared<ClusterAuthProcessor>(out.authenticator);
  if (tls) {
    auto pem = read_tls_files(config.tls);
    if (!pem.ok()) {
      return pem.status();
    }
    // Requested and verified, not required: a joining host has no
    // certificate yet (its only method, Join, needs a bootstrap token).
    grpc::SslServerCredentialsOptions opts(pem->ca.empty()
                                               ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                               : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.pem_root_certs = pem->ca;
    opts.pem_key_cert_pairs.push_back({pem->key, pem->cert});
    out.credentials = grpc::SslServerCredentials(opts);
    out.credentials->SetAuthMetadataProcessor(processor);
    out.tls = true;
    return out;
  }
  // check_bind_policy let only loopback through without TLS.
  out.credentials = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  out.credentials->SetAuthMetadataProcessor(processor);
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> make_channel(const std::string& target,
                                                            const AuthConfig& config,
                                                            const grpc::ChannelArguments& args) {
  auto pem = read_tls_files(config.tls);
  if (!pem.ok()) {
    return pem.status();
  }
  pem->token = config.token;
  return make_channel(target, *pem, args);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> make_channel(const std::string& target,
                                                            const PemCredentials& pem,
                                                            const grpc::ChannelArguments& args) {
  auto hp = split_host_port(target);
  if (!hp.ok()) {
    return hp.status();
  }
  if (pem.token.empty() && pem.cert.empty()) {
    return absl::InvalidArgumentError(
        "no credential: neither a client certificate nor a token is configured");
  }
  if (!pem.ca.empty()) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = pem.ca;
    opts.pem_cert_chain = pem.cert;
    opts.pem_private_key = pem.key;
    auto creds = grpc::SslCredentials(opts);
    if (!pem.token.empty()) {
      creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(pem.token));
    }
    return grpc::CreateCustomChannel(target, creds, args);
  }
  if (!is_loopback_host(hp->host)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "refusing a plaintext connection to non-loopback ", target,
        ": Skein speaks TLS off loopback; use a context made by `skein up --listen` or "
        "`skein user create` (see `skein config`), or pass --tls-ca"));
  }
  if (pem.token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a loopback coordinator without TLS (", target, ") needs the admin token"));
  }
  auto creds = grpc::CompositeChannelCredentials(grpc::experimental::LocalCredentials(LOCAL_TCP),
                                                 grpc::AccessTokenCredentials(pem.token));
  return grpc::CreateCustomChannel(target, creds, args);
}

}  // namespace skein
