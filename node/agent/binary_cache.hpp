// BinaryCache: job binaries on this node, content-addressed by SHA-256.
//
// Layout: `<dir>/<sha256>` is a complete binary whose hash was verified when
// it was stored, mode 0500. A fetch writes `<dir>/.partial-<sha256>-<n>`
// (0600), hashing as it goes, and renames it into place only when the byte
// count and the hash match; otherwise it is removed. A crash mid-fetch leaves
// only a partial file, which the constructor deletes.
//
// Exec without TOCTOU: open_verified() opens the cached file O_RDONLY|O_CLOEXEC,
// hashes the bytes *through that descriptor* and returns it. The supervisor
// then executes that very descriptor (execveat AT_EMPTY_PATH), so a file
// swapped on disk after the check is never what runs. A cached file that no
// longer matches its name is treated as corrupt: deleted and fetched again.
//
// Concurrency: open_verified() may be called from many threads; fetches of
// the same hash are serialized, different hashes proceed in parallel.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wire/unique_fd.hpp"

namespace skein::node {

class BinaryCache {
 public:
  // Streams a binary's bytes in order into `sink`; returns the transport's
  // status. The cache checks size and hash, the fetcher need not.
  using ChunkSink = std::function<absl::Status(std::string_view chunk)>;
  using Fetcher = std::function<absl::Status(const std::string& sha256, const ChunkSink& sink)>;

  BinaryCache(std::filesystem::path dir, std::uint64_t max_binary_bytes);

  // A descriptor on the verified binary with this hash, fetching it first if
  // it is not cached. `size` is the expected byte count (0 = unknown).
  absl::StatusOr<UniqueFd> open_verified(const std::string& sha256, std::uint64_t size,
                                         const Fetcher& fetch);

  std::filesystem::path path_of(const std::string& sha256) const { return dir_ / sha256; }

 private:
  absl::StatusOr<UniqueFd> open_cached(const std::string& sha256);
  absl::Status fetch_into_cache(const std::string& sha256, std::uint64_t size,
                                const Fetcher& fetch);
  std::shared_ptr<std::mutex> lock_for(const std::string& sha256);

  std::filesystem::path dir_;
  std::uint64_t max_binary_bytes_;
  std::mutex mu_;  // guards locks_ and partial_seq_
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
  std::uint64_t partial_seq_ = 0;
};

}  // namespace skein::node
