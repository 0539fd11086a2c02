// Bind policy (DESIGN §5 and §8, RELIABILITY S1): listeners bind loopback by
// default; a non-loopback address is refused unless TLS is configured. Fail
// closed: there is no plaintext or warn-only mode off loopback.
//
//   SKEIN_RETURN_IF_ERROR(check_bind_policy("0.0.0.0:7000", tls));
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein {

struct HostPort {
  std::string host;  // without IPv6 brackets
  int port = 0;
};

// Parses "host:port", "[v6]:port"; port in [0, 65535]. INVALID_ARGUMENT otherwise.
absl::StatusOr<HostPort> split_host_port(std::string_view address);

// 127.0.0.0/8, ::1 and "localhost". Not 0.0.0.0 / :: (they listen everywhere).
bool is_loopback_host(std::string_view host);

// OK for a loopback address or a "unix:" path; for anything else OK only
// with TLS, else PERMISSION_DENIED.
absl::Status check_bind_policy(std::string_view address, bool tls_configured);

}  // namespace skein
