// The cluster's public-key infrastructure (DESIGN.md section 8).
//
// One cluster CA (ECDSA P-256, self-signed, CA:TRUE, pathlen 0, keyCertSign)
// signs every certificate of the cluster. A certificate names one principal:
//   - Subject CN = the principal's name ("agent-1", "alice", "coordinator"),
//     Subject O = "skein-<role>" ("skein-node", "skein-user", ...);
//   - a URI SAN "skein://<role>/<name>" — the identity gRPC and we read back;
//   - server certificates (the coordinator's) also carry DNS/IP SANs: the
//     addresses clients dial (extendedKeyUsage serverAuth), client
//     certificates carry extendedKeyUsage clientAuth.
// Serial numbers are 128 random bits, printed as lowercase hex; revocation is
// by serial (the coordinator keeps the list).
//
// First contact is pinned, not trusted (kubeadm's discovery hash): a joining
// host knows "sha256:<hex of SHA-256 over the CA's DER SubjectPublicKeyInfo>"
// and accepts a coordinator only if the chain it presents contains a CA with
// that key which signed the server certificate (fetch_peer_chain + pin_ca).
//
//   auto ca = pki::create_ca("skein-cluster", std::chrono::hours(24 * 3650));
//   auto key = pki::generate_key();
//   auto csr = pki::make_csr(*key, "agent-1");
//   auto cert = pki::issue(*ca, {.csr_pem = *csr, .role = pki::Role::kNode,
//                                .name = "agent-1", .validity = std::chrono::hours(24 * 30)});
//   auto info = pki::inspect(cert->cert_pem);   // role kNode, name "agent-1"
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein::pki {

enum class Role { kCoordinator, kNode, kUser, kAdmin };

// Every certificate is valid from this long before it was made: the clock
// skew allowed between the host that signs and the hosts that check.
inline constexpr std::int64_t kBackdateSeconds = 5 * 60;

// "coordinator", "node", "user", "admin".
std::string_view role_name(Role role);
// Inverse of role_name; INVALID_ARGUMENT for anything else.
absl::StatusOr<Role> parse_role(std::string_view name);

// A certificate and its private key, both PEM.
struct CertKey {
  std::string cert_pem;
  std::string key_pem;
};

// A fresh ECDSA P-256 private key, PEM (PKCS#8, unencrypted).
absl::StatusOr<std::string> generate_key();

// A self-signed cluster CA: CN = `common_name`, basicConstraints critical
// CA:TRUE pathlen:0, keyUsage critical keyCertSign+cRLSign, valid from now
// minus 5 minutes (clock skew between hosts) for `validity`.
absl::StatusOr<CertKey> create_ca(std::string_view common_name, std::chrono::seconds validity);

// A PKCS#10 request for `key_pem`'s public key, subject CN = `common_name`,
// signed with that key. PEM.
absl::StatusOr<std::string> make_csr(std::string_view key_pem, std::string_view common_name);

// generate_key + make_csr: what a host that wants a certificate sends (the
// CSR) and keeps (the key, which never leaves it).
struct KeyAndCsr {
  std::string key_pem;
  std::string csr_pem;
};
absl::StatusOr<KeyAndCsr> new_key_and_csr(std::string_view common_name);

// Every field has an initializer so designated initializers may omit any of
// them under -Wextra (g++ warns about omitted fields that have none).
struct IssueRequest {
  std::string csr_pem{};  // its signature is verified; its subject and extensions are ignored
  Role role = Role::kNode;
  std::string name{};                   // 1..64 chars of [A-Za-z0-9._-]
  std::vector<std::string> dns_sans{};  // server certificates only
  std::vector<std::string> ip_sans{};   // server certificates only (v4 or v6 literals)
  std::chrono::seconds validity{std::chrono::hours(24 * 30)};
};

struct Issued {
  std::string cert_pem;
  std::string serial;  // lowercase hex
  std::int64_t not_after_unix = 0;
};

// Signs a certificate for the CSR's public key as described at the top.
// INVALID_ARGUMENT for an unparseable CSR, a bad CSR signature or a bad name.
// Role::kCoordinator gets serverAuth (and clientAuth), every other role clientAuth.
absl::StatusOr<Issued> issue(const CertKey& ca, const IssueRequest& request);

// generate_key + make_csr + issue in one step, for certificates made where
// the CA lives (the coordinator's own, a user credential made by an admin).
absl::StatusOr<CertKey> issue_with_new_key(const CertKey& ca,
                                           const IssueRequest& request_without_csr);

struct CertInfo {
  Role role = Role::kNode;  // from the skein:// URI SAN
  std::string name;         // from the skein:// URI SAN
  std::string serial;       // lowercase hex
  std::int64_t not_before_unix = 0;
  std::int64_t not_after_unix = 0;
  std::string spki_sha256;  // "sha256:<64 hex>" of this certificate's own key
  bool is_ca = false;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;
};

// Parses one PEM certificate. A certificate without a skein:// URI SAN
// parses (is_ca and a CA's fields are still useful) with an empty name.
absl::StatusOr<CertInfo> inspect(std::string_view cert_pem);

// "sha256:<hex>" over the DER SubjectPublicKeyInfo of the certificate.
absl::StatusOr<std::string> spki_sha256(std::string_view cert_pem);

// OK iff `cert_pem` is signed by `ca_cert_pem`'s key and its validity
// period contains now (FAILED_PRECONDITION naming "not yet valid" or
// "expired" with both dates otherwise; PERMISSION_DENIED for a bad
// signature).
absl::Status verify_signed_by(std::string_view cert_pem, std::string_view ca_cert_pem);

// True iff the private key matches the certificate's public key.
bool key_matches_cert(std::string_view key_pem, std::string_view cert_pem);

// Connects to `host_port` over TCP, runs a TLS handshake that does not
// verify the peer (ALPN "h2", as gRPC servers expect), and returns the
// certificates the peer presented, leaf first, as PEM. Errors name the
// cause for a person: UNAVAILABLE "cannot reach HOST:PORT: <strerror>"
// (refused, unreachable, timed out), FAILED_PRECONDITION "HOST:PORT does not
// speak TLS (a plaintext coordinator?)" when the handshake fails.
absl::StatusOr<std::vector<std::string>> fetch_peer_chain(const std::string& host_port,
                                                          std::chrono::milliseconds timeout);

// The pinning step of a join: among `chain` (from fetch_peer_chain), finds
// the CA certificate whose spki_sha256 equals `expected_hash`
// ("sha256:<hex>", case-insensitive hex), checks that it signed chain[0],
// and returns that CA certificate (PEM). PERMISSION_DENIED "the coordinator's
// CA is sha256:<actual>, not the expected sha256:<expected> (wrong
// --ca-hash, or another cluster)" when no certificate matches.
absl::StatusOr<std::string> pin_ca(const std::vector<std::string>& chain,
                                   std::string_view expected_hash);

// Writes `content` to `path` atomically (tmp file in the same directory,
// fsync, rename) with `mode` (0600 for keys, 0644 for certificates).
absl::Status write_file_atomic(const std::string& path, std::string_view content, unsigned mode);

// The whole file; NOT_FOUND naming the path when missing.
absl::StatusOr<std::string> read_file(const std::string& path);

}  // namespace skein::pki
