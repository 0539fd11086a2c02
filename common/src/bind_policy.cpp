#include "skein/common/bind_policy.hpp"

#include <arpa/inet.h>

#include <charconv>

#include "absl/strings/str_cat.h"

namespace skein {

absl::StatusOr<HostPort> split_host_port(std::string_view address_view) {
  // Debian's Abseil is built with its own string_view: work on a std::string.
  const std::string address(address_view);
  HostPort hp;
  std::string port;
  if (address.rfind("[", 0) == 0) {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", address, "': expected [v6addr]:port"));
    }
    hp.host = std::string(address.substr(1, close - 1));
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon /* bare IPv6 without brackets */) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", address, "': expected host:port"));
    }
    hp.host = std::string(address.substr(0, colon));
    port = address.substr(colon + 1);
  }
  if (hp.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("bad address '", address, "': empty host"));
  }
  int value = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value < 0 ||
      value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad address '", address, "': port must be 0..65535"));
  }
  hp.port = value;
  return hp;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") {
    return true;
  }
  std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

absl::Status check_bind_policy(std::string_view address_view, bool tls_configured) {
  const std::string address(address_view);
  if (address.rfind("unix:", 0) == 0) {
    return absl::OkStatus();
  }
  auto hp = split_host_port(address);
  if (!hp.ok()) {
    return hp.status();
  }
  if (is_loopback_host(hp->host) || tls_configured) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("refusing to listen on non-loopback address ", address,
                   " without TLS: Skein serves other hosts over mutual TLS only (the "
                   "coordinator makes its certificates in <data-dir>/pki)"));
}

}  // namespace skein
