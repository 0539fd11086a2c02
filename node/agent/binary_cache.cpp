#include "agent/binary_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "skein/common/sha256.hpp"

namespace skein::node {
namespace {

constexpr std::size_t kHashReadChunk = 1 << 20;

absl::Status errno_status(const std::string& what, const std::filesystem::path& p) {
  return absl::InternalError(absl::StrCat(what, " ", p.string(), ": ", std::strerror(errno)));
}

// Hashes everything readable from fd, from offset 0, without moving its offset.
absl::StatusOr<std::string> hash_fd(int fd) {
  Sha256 h;
  std::string buf(kHashReadChunk, '\0');
  off_t off = 0;
  while (true) {
    ssize_t r = ::pread(fd, buf.data(), buf.size(), off);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::InternalError(absl::StrCat("read binary: ", std::strerror(errno)));
    }
    if (r == 0) {
      break;
    }
    h.update(std::string_view(buf.data(), static_cast<std::size_t>(r)));
    off += r;
  }
  return h.final_hex();
}

std::string mismatch(const std::string& expected, const std::string& actual) {
  return absl::StrCat("SHA-256 mismatch: expected ", sha256_prefix(expected), "..., got ",
                      sha256_prefix(actual), "...");
}

}  // namespace

BinaryCache::BinaryCache(std::filesystem::path dir, std::uint64_t max_binary_bytes)
    : dir_(std::move(dir)), max_binary_bytes_(max_binary_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  ::chmod(dir_.c_str(), 0700);
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().filename().string().starts_with(".partial-")) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

std::shared_ptr<std::mutex> BinaryCache::lock_for(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& m = locks_[sha256];
  if (!m) {
    m = std::make_shared<std::mutex>();
  }
  return m;
}

absl::StatusOr<UniqueFd> BinaryCache::open_cached(const std::string& sha256) {
  const auto path = path_of(sha256);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) {
      return absl::NotFoundError("not cached");
    }
    return errno_status("open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path.string(), " is not a regular file"));
  }
  auto actual = hash_fd(fd.get());
  if (!actual.ok()) {
    return actual.status();
  }
  if (*actual != sha256) {
    return absl::DataLossError(mismatch(sha256, *actual));
  }
  return fd;
}

absl::Status BinaryCache::fetch_into_cache(const std::string& sha256, std::uint64_t size,
                                           const Fetcher& fetch) {
  if (size > max_binary_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "binary of ", size, " bytes exceeds the cache's limit of ", max_binary_bytes_, " bytes"));
  }
  std::uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = ++partial_seq_;
  }
  const auto partial = dir_ / absl::StrCat(".partial-", sha256, "-", ::getpid(), "-", seq);
  UniqueFd out(::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) {
    return errno_status("create", partial);
  }
  struct Cleanup {
    const std::filesystem::path& p;
    bool keep = false;
    ~Cleanup() {
      if (!keep) {
        std::error_code ec;
        std::filesystem::remove(p, ec);
      }
    }
  } cleanup{partial};

  Sha256 h;
  std::uint64_t written = 0;
  absl::Status io = absl::OkStatus();
  absl::Status fetched = fetch(sha256, [&](std::string_view chunk) -> absl::Status {
    if (written + chunk.size() > max_binary_bytes_ || (size > 0 && written + chunk.size() > size)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("binary ", sha256_prefix(sha256), "... is larger than announced"));
    }
    h.update(chunk);
    while (!chunk.empty()) {
      ssize_t w = ::write(out.get(), chunk.data(), chunk.size());
      if (w < 0) {
        if (errno == EINTR) {
          continue;
        }
        // ENOSPC and friends: a clear error, the partial file goes away.
        io = absl::ResourceExhaustedError(
            absl::StrCat("write ", partial.string(), ": ", std::strerror(errno)));
        return io;
      }
      chunk.remove_prefix(static_cast<std::size_t>(w));
      written += static_cast<std::uint64_t>(w);
    }
    return absl::OkStatus();
  });
  if (!io.ok()) {
    return io;
  }
  if (!fetched.ok()) {
    return fetched;
  }
  if (size > 0 && written != size) {
    return absl::DataLossError(absl::StrCat("binary ", sha256_prefix(sha256), "...: got ", written,
                                            " bytes, expected ", size));
  }
  const std::string actual = h.final_hex();
  if (actual != sha256) {
    return absl::DataLossError(mismatch(sha256, actual));
  }
  if (::fchmod(out.get(), 0500) != 0) {
    return errno_status("chmod", partial);
  }
  out.reset();
  if (::rename(partial.c_str(), path_of(sha256).c_str()) != 0) {
    return errno_status("rename", partial);
  }
  cleanup.keep = true;
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> BinaryCache::open_verified(const std::string& sha256, std::uint64_t size,
                                                    const Fetcher& fetch) {
  if (!is_sha256_hex(sha256)) {
    return absl::InvalidArgumentError("binary hash must be 64 lowercase hex characters");
  }
  auto lock = lock_for(sha256);
  std::lock_guard<std::mutex> guard(*lock);
  auto cached = open_cached(sha256);
  if (cached.ok()) {
    return cached;
  }
  if (!absl::IsNotFound(cached.status())) {
    // Corrupt or unreadable cache entry: drop it and fetch a fresh copy.
    std::error_code ec;
    std::filesystem::remove(path_of(sha256), ec);
  }
  if (absl::Status s = fetch_into_cache(sha256, size, fetch); !s.ok()) {
    return s;
  }
  return open_cached(sha256);
}

}  // namespace skein::node
