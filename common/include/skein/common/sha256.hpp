// SHA-256 for the binary store and the agents' binary cache.
//
// Sha256 is an incremental hasher over OpenSSL's EVP interface: update() any
// number of times, then final_hex() once. Hashes travel and are stored as 64
// lowercase hex characters; is_sha256_hex() is the one validity check every
// RPC applies to a client-supplied hash.
//
//   Sha256 h;
//   h.update(chunk1); h.update(chunk2);
//   std::string hex = h.final_hex();
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace skein {

class Sha256 {
 public:
  Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&&) noexcept = default;
  Sha256& operator=(Sha256&&) noexcept = default;

  void update(std::string_view data);
  // Ends the hash; the object must not be updated afterwards.
  std::string final_hex();

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

std::string sha256_hex(std::string_view data);

// Hashes a whole file. NOT_FOUND if it does not exist, INTERNAL on read errors.
absl::StatusOr<std::string> sha256_file(const std::string& path);

// True iff `s` is exactly 64 lowercase hex digits.
bool is_sha256_hex(std::string_view s);

// The first 12 hex digits, for error messages ("expected 3a7bd3e2360a...").
std::string sha256_prefix(std::string_view hex);

}  // namespace skein
