// The cluster token: a shared secret of 256 random bits, hex-encoded (64
// chars), that every RPC of every Skein service must carry as
// "authorization: Bearer <token>".
//
// It lives in a file of mode 0600 (written by `skein up` / `cluster init`)
// and is passed to daemons and the CLI as a *path* (--token-file), never as
// an argument value: /proc/<pid>/cmdline is world-readable. It is never
// logged, never put in an error message and never put in a worker's
// environment.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein {

inline constexpr size_t kTokenBytes = 32;  // 256 bits

// 64 lowercase hex chars from the kernel CSPRNG (getrandom via OpenSSL's RAND_bytes).
absl::StatusOr<std::string> generate_token();

// Reads a token file. Rejects (PERMISSION_DENIED) a file that group or others
// can read or write, (INVALID_ARGUMENT) an empty or short token, (NOT_FOUND)
// a missing file. Trailing whitespace/newline is stripped.
absl::StatusOr<std::string> load_token(const std::string& path);

// Creates or replaces `path` with mode 0600 holding `token` and a newline;
// the file is written under a temporary name, fsync'd and renamed, so a
// reader never sees a partial token.
absl::Status write_token_file(const std::string& path, const std::string& token);

}  // namespace skein
