// Node credentials: how an agent on a new host gets its identity
// (DESIGN.md section 8; kubeadm's join, done by the agent itself).
//
// <work-dir>/pki holds ca.crt, node.key (0600) and node.crt. On start:
//   1. If they exist and the certificate is valid now, use them.
//   2. Else, with a bootstrap token and the CA pin (--bootstrap-token-file,
//      --ca-hash): fetch the coordinator's certificate chain over an
//      unverified TLS handshake, keep the CA only if its key hash is the pin
//      and it signed the server certificate (no trust on first use), make a
//      key and a CSR, and call NodeGateway.Join over TLS verified by that CA
//      with the token. The signed node certificate names this node.
//   3. Else fail with the command that fixes it.
// renew_node_credentials() swaps in a fresh certificate (new key) before the
// old one expires, authorized by the old one.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "skein/common/auth.hpp"

namespace skein::node {

struct BootstrapConfig {
  std::string coordinator;           // host:port
  std::string work_dir;              // credentials go to <work_dir>/pki
  std::string node_name;             // the identity asked for
  std::string bootstrap_token_file;  // "<id>.<secret>", used once
  std::string ca_hash;               // "sha256:<hex>"
  std::chrono::milliseconds timeout{10000};
};

struct NodeCredentials {
  TlsFiles tls;  // ca, cert, key under <work_dir>/pki
  std::string name;
  std::int64_t not_before_unix = 0;
  std::int64_t not_after_unix = 0;
};

// Steps 1–3 above.
absl::StatusOr<NodeCredentials> ensure_node_credentials(const BootstrapConfig& config);

// A new key and certificate for the same name, from the coordinator, with
// the current certificate as the credential; replaces the files atomically.
absl::StatusOr<NodeCredentials> renew_node_credentials(const BootstrapConfig& config,
                                                       const NodeCredentials& current);

// When to renew: two thirds into the certificate's life.
std::chrono::system_clock::time_point renewal_time(const NodeCredentials& creds);

}  // namespace skein::node
