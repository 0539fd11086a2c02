#include "skein/common/auth.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>
#include <openssl/crypto.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "skein/common/bind_policy.hpp"

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

// Adds the bearer header to every call on an insecure channel, where call
// credentials are refused by gRPC (they need a secure transport).
class TokenInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* header) : header_(header) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({kAuthMetadataKey, *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;  // owned by the factory, which the channel keeps alive
};

class TokenInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(std::string token)
      : header_(std::string(kBearerPrefix) + token) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new TokenInterceptor(&header_);
  }

 private:
  std::string header_;
};

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

grpc::Status TokenVerifier::check_call(const grpc::ServerContextBase& ctx) const {
  const auto& md = ctx.client_metadata();
  auto range = md.equal_range(kAuthMetadataKey);
  for (auto it = range.first; it != range.second; ++it) {
    if (matches(std::string_view(it->second.data(), it->second.size()))) {
      return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, kRejectMessage);
}

TokenAuthProcessor::TokenAuthProcessor(std::string token) : verifier_(std::move(token)) {}

grpc::Status TokenAuthProcessor::Process(const InputMetadata& auth_metadata,
                                         grpc::AuthContext* /*context*/,
                                         OutputMetadata* consumed_auth_metadata,
                                         OutputMetadata* /*response_metadata*/) {
  auto range = auth_metadata.equal_range(kAuthMetadataKey);
  for (auto it = range.first; it != range.second; ++it) {
    std::string_view value(it->second.data(), it->second.size());
    if (verifier_.matches(value)) {
      consumed_auth_metadata->insert({std::string(kAuthMetadataKey), std::string(value)});
      return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, kRejectMessage);
}

absl::StatusOr<ServerAuth> make_server_auth(const AuthConfig& config,
                                            std::string_view listen_address) {
  if (config.token.empty()) {
    return absl::InvalidArgumentError("no cluster token configured");
  }
  bool tls = !config.tls.cert_file.empty();
  if (config.tls.enabled() && (config.tls.cert_file.empty() || config.tls.key_file.empty())) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  if (auto s = check_bind_policy(listen_address, tls, config.insecure); !s.ok()) {
    return s;
  }
  auto processor = std::make_shared<TokenAuthProcessor>(config.token);
  ServerAuth out;
  if (tls) {
    auto cert = read_pem(config.tls.cert_file, "certificate");
    if (!cert.ok()) {
      return cert.status();
    }
    auto key = read_pem(config.tls.key_file, "key");
    if (!key.ok()) {
      return key.status();
    }
    grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    std::string ca;
    if (!config.tls.ca_file.empty()) {
      auto ca_pem = read_pem(config.tls.ca_file, "CA");
      if (!ca_pem.ok()) {
        return ca_pem.status();
      }
      ca = *std::move(ca_pem);
      request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    grpc::SslServerCredentialsOptions opts(request);
    opts.pem_root_certs = ca;
    opts.pem_key_cert_pairs.push_back({*key, *cert});
    out.credentials = grpc::SslServerCredentials(opts);
    out.credentials->SetAuthMetadataProcessor(processor);
    return out;
  }
  auto hp = split_host_port(listen_address);
  bool loopback = hp.ok() && is_loopback_host(hp->host);
  if (loopback) {
    out.credentials = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
    out.credentials->SetAuthMetadataProcessor(processor);
    return out;
  }
  // --insecure on a non-loopback address (check_bind_policy let it through).
  out.credentials = grpc::InsecureServerCredentials();
  out.handlers_must_check = true;
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> make_channel(const std::string& target,
                                                            const AuthConfig& config,
                                                            const grpc::ChannelArguments& args) {
  if (config.token.empty()) {
    return absl::InvalidArgumentError("no cluster token configured");
  }
  auto hp = split_host_port(target);
  if (!hp.ok()) {
    return hp.status();
  }
  if (!config.tls.ca_file.empty()) {
    auto ca = read_pem(config.tls.ca_file, "CA");
    if (!ca.ok()) {
      return ca.status();
    }
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = *ca;
    if (!config.tls.cert_file.empty()) {
      auto cert = read_pem(config.tls.cert_file, "certificate");
      if (!cert.ok()) {
        return cert.status();
      }
      auto key = read_pem(config.tls.key_file, "key");
      if (!key.ok()) {
        return key.status();
      }
      opts.pem_cert_chain = *cert;
      opts.pem_private_key = *key;
    }
    auto creds = grpc::CompositeChannelCredentials(grpc::SslCredentials(opts),
                                                   grpc::AccessTokenCredentials(config.token));
    return grpc::CreateCustomChannel(target, creds, args);
  }
  if (is_loopback_host(hp->host)) {
    auto creds = grpc::CompositeChannelCredentials(grpc::experimental::LocalCredentials(LOCAL_TCP),
                                                   grpc::AccessTokenCredentials(config.token));
    return grpc::CreateCustomChannel(target, creds, args);
  }
  if (!config.insecure) {
    return absl::PermissionDeniedError(
        absl::StrCat("refusing plaintext connection to non-loopback ", target,
                     ": configure a TLS CA, or pass --insecure"));
  }
  return make_plaintext_channel(target, config.token, args);
}

std::shared_ptr<grpc::Channel> make_plaintext_channel(const std::string& target,
                                                      const std::string& token,
                                                      const grpc::ChannelArguments& args) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<TokenInterceptorFactory>(token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, grpc::InsecureChannelCredentials(), args, std::move(factories));
}

}  // namespace skein
