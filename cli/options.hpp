// Options every `skein` command shares, and where their defaults come from.
//
// Where the CLI finds its cluster, in this order:
//   1. --coordinator (or SKEIN_COORDINATOR): that address, with the admin
//      token file (--token-file, SKEIN_TOKEN_FILE, <state>/token) and, for a
//      TLS coordinator, --tls-ca [--tls-cert --tls-key];
//   2. the current context of the config file (--config, SKEIN_CONFIG,
//      <state>/config): written by `skein up`, `skein user create`,
//      `skein config import` (config_file.hpp);
//   3. <state>/coordinator.addr and <state>/token (older state dirs).
// The state directory is --state-dir, else SKEIN_STATE_DIR, else ~/.skein.
// Tokens are always read from files: never from argv, never printed.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

namespace skein::cli {

// Exit codes of the CLI besides a job's own (submit --wait).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string state_dir;
  std::string coordinator;
  std::string token_file;
  int timeout_ms = 10000;  // deadline of each unary call
  std::string tls_ca;      // for a TLS coordinator (non-loopback)
  std::string tls_cert;    // client certificate (mTLS)
  std::string tls_key;
  std::string config;  // config file with contexts

  std::string resolved_state_dir() const;
  std::string resolved_config() const;
  absl::StatusOr<std::string> resolved_coordinator() const;
  std::string resolved_token_file() const;
  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(timeout_ms); }
};

}  // namespace skein::cli
