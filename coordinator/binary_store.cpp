#include "binary_store.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "skein/common/log.hpp"

namespace skein::coordinator {
namespace fs = std::filesystem;

namespace {

absl::Status io_error(const std::string& what, int err) {
  std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) {
    return absl::ResourceExhaustedError(msg);
  }
  return absl::InternalError(msg);
}

std::string random_name() {
  unsigned char raw[8];
  RAND_bytes(raw, sizeof raw);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

}  // namespace

BinaryStore::BinaryStore(std::string dir, uint64_t max_binary_bytes)
    : dir_(std::move(dir)), partial_dir_(dir_ + "/.partial"), max_binary_bytes_(max_binary_bytes) {}

absl::StatusOr<std::unique_ptr<BinaryStore>> BinaryStore::open(const std::string& data_dir,
                                                               uint64_t max_binary_bytes) {
  std::string dir = data_dir + "/binaries";
  std::error_code ec;
  fs::create_directories(dir + "/.partial", ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("create ", dir, ": ", ec.message()));
  }
  // Partial files are garbage by definition once no upload is running.
  size_t removed = 0;
  for (const auto& entry : fs::directory_iterator(dir + "/.partial", ec)) {
    fs::remove(entry.path(), ec);
    ++removed;
  }
  if (removed > 0) {
    logger("binary_store")->info("removed {} partial upload(s) left by a previous run", removed);
  }
  return std::unique_ptr<BinaryStore>(new BinaryStore(dir, max_binary_bytes));
}

absl::StatusOr<std::unique_ptr<BinaryStore::Upload>> BinaryStore::begin_upload(
    const std::string& sha256, uint64_t size) {
  if (!is_sha256_hex(sha256)) {
    return absl::InvalidArgumentError(
        "sha256 must be 64 lowercase hex characters in the first upload message");
  }
  if (size == 0) {
    return absl::InvalidArgumentError("total_size must be > 0 in the first upload message");
  }
  if (size > max_binary_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("binary of ", size, " bytes exceeds the ", max_binary_bytes_, "-byte cap"));
  }
  std::string partial = absl::StrCat(partial_dir_, "/", random_name(), ".part");
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return io_error(absl::StrCat("create ", partial), errno);
  }
  return std::unique_ptr<Upload>(new Upload(this, sha256, size, partial, fd));
}

bool BinaryStore::contains(const std::string& sha256) const {
  if (!is_sha256_hex(sha256)) {
    return false;
  }
  struct stat st;
  return ::stat(path_of(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<uint64_t> BinaryStore::size_of(const std::string& sha256) const {
  if (!is_sha256_hex(sha256)) {
    return absl::InvalidArgumentError("sha256 must be 64 lowercase hex characters");
  }
  struct stat st;
  if (::stat(path_of(sha256).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("binary ", sha256_prefix(sha256), "... is not in the store; upload it first"));
  }
  return static_cast<uint64_t>(st.st_size);
}

std::string BinaryStore::path_of(const std::string& sha256) const {
  return absl::StrCat(dir_, "/", sha256);
}

BinaryStore::Upload::Upload(BinaryStore* store, std::string sha256, uint64_t size,
                            std::string partial_path, int fd)
    : store_(store),
      expected_sha256_(std::move(sha256)),
      expected_size_(size),
      partial_path_(std::move(partial_path)),
      fd_(fd) {}

BinaryStore::Upload::~Upload() { discard(); }

void BinaryStore::Upload::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!done_) {
    ::unlink(partial_path_.c_str());
    done_ = true;
  }
}

absl::Status BinaryStore::Upload::append(std::string_view data) {
  if (done_ || fd_ < 0) {
    return absl::FailedPreconditionError("upload already finished");
  }
  if (data.size() > expected_size_ - received_) {
    discard();
    return absl::InvalidArgumentError(
        absl::StrCat("upload sends more than the announced ", expected_size_, " bytes"));
  }
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int err = errno;
      discard();
      return io_error("write binary", err);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  hasher_.update(data);
  received_ += data.size();
  return absl::OkStatus();
}

absl::StatusOr<PutResult> BinaryStore::Upload::commit() {
  if (done_ || fd_ < 0) {
    return absl::FailedPreconditionError("upload already finished");
  }
  if (received_ != expected_size_) {
    discard();
    return absl::InvalidArgumentError(
        absl::StrCat("upload ended after ", received_, " of ", expected_size_, " announced bytes"));
  }
  std::string actual = hasher_.final_hex();
  if (actual != expected_sha256_) {
    discard();
    return absl::InvalidArgumentError(
        absl::StrCat("sha256 mismatch: expected ", sha256_prefix(expected_sha256_), "..., got ",
                     sha256_prefix(actual), "... (upload rejected, nothing stored)"));
  }
  if (::fsync(fd_) != 0) {
    int err = errno;
    discard();
    return io_error("fsync binary", err);
  }
  ::fchmod(fd_, 0500);
  ::close(fd_);
  fd_ = -1;
  PutResult out{expected_sha256_, expected_size_, false};
  std::string final_path = store_->path_of(expected_sha256_);
  if (store_->contains(expected_sha256_)) {
    // Same content by construction: keep the stored file untouched.
    out.already_stored = true;
    discard();
    return out;
  }
  if (::rename(partial_path_.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    discard();
    return io_error("publish binary", err);
  }
  done_ = true;
  int dfd = ::open(store_->dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // make the rename durable
    ::close(dfd);
  }
  return out;
}

}  // namespace skein::coordinator
