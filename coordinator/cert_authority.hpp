// CertAuthority: the coordinator's half of the cluster PKI (DESIGN.md §8).
//
// Lives in <data-dir>/pki (mode 0700):
//   ca.crt, ca.key (0600)          the cluster CA, made on first start
//   server.crt (leaf + CA), server.key (0600)
//                                  the coordinator's certificate, re-issued at
//                                  every start so its SANs are the current
//                                  --advertise addresses (plus loopback)
//   state.json (0600)              bootstrap tokens (id, SHA-256 of the
//                                  secret, expiry), certificates issued and
//                                  serials revoked; rewritten atomically on
//                                  every change
// Bootstrap tokens look like kubeadm's: "<id>.<secret>", 6 + 32 characters of
// [a-z0-9]. The secret is shown once (create_token) and only its hash is kept.
// A joining node is issued a certificate for the name it asked for; removing
// a node revokes every certificate issued to that name.
//
// Invariants: every serial in `revoked_` was issued by this CA; a token in
// `tokens_` is listed until it expires or is revoked (then dropped on the next
// write). All methods are thread-safe (one mutex; lookups are map finds).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "skein/common/auth.hpp"
#include "skein/common/pki.hpp"

namespace skein::coordinator {

struct CertAuthorityConfig {
  std::string dir;                     // <data-dir>/pki
  std::vector<std::string> advertise;  // hosts or IPs clients dial (server cert SANs)
  std::chrono::seconds node_validity{std::chrono::hours(24 * 30)};
  std::chrono::seconds server_validity{std::chrono::hours(24 * 365)};
};

struct BootstrapToken {
  std::string id;
  std::string secret_sha256;  // hex
  std::string description;
  std::int64_t created_unix_ms = 0;
  std::int64_t expires_unix_ms = 0;
  std::uint32_t uses = 0;
};

struct IssuedCert {
  std::string serial;
  std::string name;
  pki::Role role = pki::Role::kNode;
  std::int64_t not_after_unix = 0;
};

class CertAuthority : public CredentialDirectory {
 public:
  static absl::StatusOr<std::unique_ptr<CertAuthority>> open(const CertAuthorityConfig& config);

  // The files a TLS listener needs: server cert chain, its key, the CA.
  TlsFiles server_tls() const;
  const std::string& ca_pem() const { return ca_.cert_pem; }
  const std::string& ca_hash() const { return ca_hash_; }
  // host:port addresses other hosts dial (set once the port is bound).
  std::vector<std::string> addresses() const;
  void set_addresses(std::vector<std::string> addresses);

  // A new bootstrap token valid for `ttl`; returns "<id>.<secret>".
  absl::StatusOr<std::string> create_token(std::chrono::seconds ttl, std::string description,
                                           BootstrapToken* info);
  std::vector<BootstrapToken> list_tokens() const;
  absl::Status revoke_token(const std::string& id);

  // Signs a node certificate for `name` (a Join authorized by `token_id`).
  absl::StatusOr<pki::Issued> issue_node(const std::string& token_id, const std::string& name,
                                         const std::string& csr_pem);
  // Signs a user or admin client certificate.
  absl::StatusOr<pki::Issued> issue_credential(const std::string& name, pki::Role role,
                                               const std::string& csr_pem,
                                               std::chrono::seconds validity);
  // Revokes every certificate issued to `name`; returns their serials.
  absl::StatusOr<std::vector<std::string>> revoke_identity(const std::string& name);

  // CredentialDirectory
  std::optional<std::string> bootstrap_token_id(std::string_view token) const override;
  bool certificate_revoked(std::string_view serial) const override;

 private:
  explicit CertAuthority(CertAuthorityConfig config) : config_(std::move(config)) {}
  absl::Status load_state();
  absl::Status save_state_locked() const;  // REQUIRES(mu_)
  absl::StatusOr<pki::Issued> issue_locked(const pki::IssueRequest& request);

  CertAuthorityConfig config_;
  pki::CertKey ca_;
  std::string ca_hash_;

  mutable std::mutex mu_;
  std::map<std::string, BootstrapToken> tokens_;  // GUARDED_BY(mu_), by id
  std::vector<IssuedCert> issued_;                // GUARDED_BY(mu_)
  std::set<std::string, std::less<>> revoked_;    // GUARDED_BY(mu_), serials
  std::vector<std::string> addresses_;            // GUARDED_BY(mu_)
};

}  // namespace skein::coordinator
