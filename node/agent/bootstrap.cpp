#include "agent/bootstrap.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "skein/common/log.hpp"
#include "skein/common/pki.hpp"
#include "skein/common/status.hpp"
#include "skein/common/token.hpp"
#include "skein/v1/node.grpc.pb.h"

namespace skein::node {
namespace {

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string utc(std::int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string pki_dir(const BootstrapConfig& c) { return c.work_dir + "/pki"; }

TlsFiles files_of(const BootstrapConfig& c) {
  const std::string d = pki_dir(c);
  return TlsFiles{d + "/node.crt", d + "/node.key", d + "/ca.crt"};
}

// The stored credentials, checked against this host's clock.
absl::StatusOr<NodeCredentials> load(const BootstrapConfig& c) {
  NodeCredentials out;
  out.tls = files_of(c);
  auto cert = pki::read_file(out.tls.cert_file);
  if (!cert.ok()) {
    return cert.status();
  }
  auto key = pki::read_file(out.tls.key_file);
  auto ca = pki::read_file(out.tls.ca_file);
  if (!key.ok() || !ca.ok()) {
    return absl::DataLossError(absl::StrCat("incomplete node credentials in ", pki_dir(c),
                                            ": remove the directory and join again"));
  }
  auto info = pki::inspect(*cert);
  if (!info.ok()) {
    return absl::DataLossError(
        absl::StrCat(out.tls.cert_file, " is not a certificate: ", info.status().message()));
  }
  if (!pki::key_matches_cert(*key, *cert)) {
    return absl::DataLossError(absl::StrCat(out.tls.key_file, " does not match ", out.tls.cert_file,
                                            ": remove ", pki_dir(c), " and join again"));
  }
  const std::int64_t now = now_unix();
  if (now < info->not_before_unix) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the node certificate is valid only from ", utc(info->not_before_unix),
        " but this host's clock says ", utc(now),
        ": the clocks of this host and the coordinator's disagree; fix the time (NTP)"));
  }
  if (now >= info->not_after_unix) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the node certificate in ", out.tls.cert_file, " expired on ", utc(info->not_after_unix),
        " (this host's clock says ", utc(now),
        "); if the clock is right, remove that directory and join again with a new token "
        "(`skein token create` on the coordinator)"));
  }
  out.name = info->name;
  out.not_before_unix = info->not_before_unix;
  out.not_after_unix = info->not_after_unix;
  return out;
}

// Asks the coordinator to sign `csr` over a channel with `auth`.
absl::StatusOr<v1::JoinResponse> call(const BootstrapConfig& c, const AuthConfig& auth,
                                      const std::string& name, const std::string& csr, bool renew) {
  auto channel = make_channel(c.coordinator, auth);
  if (!channel.ok()) {
    return channel.status();
  }
  auto stub = v1::NodeGateway::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + c.timeout);
  v1::JoinResponse resp;
  grpc::Status st;
  if (renew) {
    v1::RenewCertificateRequest req;
    req.set_csr_pem(csr);
    st = stub->RenewCertificate(&ctx, req, &resp);
  } else {
    v1::JoinRequest req;
    req.set_node_name(name);
    req.set_csr_pem(csr);
    st = stub->Join(&ctx, req, &resp);
  }
  if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED && !renew) {
    return absl::UnauthenticatedError(
        absl::StrCat("the coordinator at ", c.coordinator,
                     " refused the join token (expired, revoked or mistyped): make a new one with "
                     "`skein token create` on the coordinator's host"));
  }
  if (!st.ok()) {
    return absl::Status(from_grpc(st).code(),
                        absl::StrCat(renew ? "renewing" : "joining", " at ", c.coordinator,
                                     " failed: ", st.error_message()));
  }
  return resp;
}

// Writes key, certificate and CA; the key first so that a crash never leaves
// a certificate without its key.
absl::Status store(const BootstrapConfig& c, const std::string& key, const v1::JoinResponse& r) {
  const TlsFiles f = files_of(c);
  if (auto s = pki::write_file_atomic(f.key_file, key, 0600); !s.ok()) {
    return s;
  }
  if (auto s = pki::write_file_atomic(f.ca_file, r.ca_pem(), 0644); !s.ok()) {
    return s;
  }
  return pki::write_file_atomic(f.cert_file, r.cert_pem(), 0644);
}

// A new key, its CSR signed by the coordinator over `auth`, all stored.
absl::StatusOr<NodeCredentials> sign_and_store(const BootstrapConfig& c, const AuthConfig& auth,
                                               const std::string& name, bool renew) {
  auto request = pki::new_key_and_csr(name);
  if (!request.ok()) {
    return request.status();
  }
  auto resp = call(c, auth, name, request->csr_pem, renew);
  if (!resp.ok()) {
    return resp.status();
  }
  if (auto s = store(c, request->key_pem, *resp); !s.ok()) {
    return s;
  }
  return load(c);
}

}  // namespace

absl::StatusOr<NodeCredentials> ensure_node_credentials(const BootstrapConfig& c) {
  if (std::filesystem::exists(files_of(c).cert_file)) {
    return load(c);
  }
  if (c.bootstrap_token_file.empty() || c.ca_hash.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no node credentials in ", pki_dir(c),
                     " and no --bootstrap-token-file/--ca-hash to get them: join with `skein join ",
                     c.coordinator,
                     " --token TOKEN --ca-hash sha256:HEX` (both printed by `skein up "
                     "--listen` or `skein token create` on the coordinator)"));
  }
  auto token = load_token(c.bootstrap_token_file);
  if (!token.ok()) {
    return absl::Status(
        token.status().code(),
        absl::StrCat("join token file ", c.bootstrap_token_file, ": ", token.status().message()));
  }
  // First contact: pinned, not trusted.
  auto chain = pki::fetch_peer_chain(c.coordinator, c.timeout);
  if (!chain.ok()) {
    return chain.status();
  }
  auto ca = pki::pin_ca(*chain, c.ca_hash);
  if (!ca.ok()) {
    return ca.status();
  }
  if (auto s = pki::verify_signed_by((*chain)[0], *ca); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the coordinator's certificate does not check out on this host: ", s.message(),
        " (if it is 'not yet valid' or 'expired', this host's clock is off: fix the time)"));
  }
  std::error_code ec;
  std::filesystem::create_directories(pki_dir(c), ec);
  ::chmod(pki_dir(c).c_str(), 0700);
  const std::string ca_file = pki_dir(c) + "/ca.crt";
  if (auto s = pki::write_file_atomic(ca_file, *ca, 0644); !s.ok()) {
    return s;
  }
  AuthConfig auth;
  auth.token = *token;
  auth.tls.ca_file = ca_file;
  auto joined = sign_and_store(c, auth, c.node_name, /*renew=*/false);
  if (joined.ok()) {
    logger("node")->info("joined {} as '{}' (CA {})", c.coordinator, c.node_name, c.ca_hash);
    // A join token left in the work dir (`skein join` puts it there) has
    // done its job: the node certificate is the credential from now on.
    const auto token_path = std::filesystem::weakly_canonical(c.bootstrap_token_file);
    const auto work = std::filesystem::weakly_canonical(c.work_dir);
    if (token_path.parent_path() == work) {
      std::error_code rm;
      std::filesystem::remove(token_path, rm);
    }
  }
  return joined;
}

absl::StatusOr<NodeCredentials> renew_node_credentials(const BootstrapConfig& c,
                                                       const NodeCredentials& current) {
  AuthConfig auth;
  auth.tls = current.tls;
  return sign_and_store(c, auth, current.name, /*renew=*/true);
}

std::chrono::system_clock::time_point renewal_time(const NodeCredentials& creds) {
  // Two thirds into the life it was issued for (not counting the backdating).
  const std::int64_t issued =
      std::min(creds.not_before_unix + pki::kBackdateSeconds, creds.not_after_unix);
  const std::int64_t at = issued + (creds.not_after_unix - issued) * 2 / 3;
  return std::chrono::system_clock::time_point(std::chrono::seconds(at));
}

}  // namespace skein::node
