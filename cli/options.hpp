// Options every `skein` command shares, and where their defaults come from.
//
// The coordinator address and token file resolve in this order:
//   1. --coordinator / --token-file on the command line;
//   2. SKEIN_COORDINATOR / SKEIN_TOKEN_FILE in the environment;
//   3. the state directory written by `skein up`: <state>/coordinator.addr
//      and <state>/token.
// The state directory is --state-dir, else SKEIN_STATE_DIR, else ~/.skein.
// The token is always read from a file: never from argv, never printed.
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
  bool insecure = false;

  std::string resolved_state_dir() const;
  absl::StatusOr<std::string> resolved_coordinator() const;
  std::string resolved_token_file() const;
  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(timeout_ms); }
};

}  // namespace skein::cli
