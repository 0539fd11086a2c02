#include "agent/job_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace skein::node {

JobLog::JobLog(std::filesystem::path dir, std::uint64_t max_bytes)
    : dir_(std::move(dir)),
      path_(dir_ / "output.log"),
      max_bytes_(std::max<std::uint64_t>(max_bytes, 1)) {}

absl::Status JobLog::rotate() {
  fd_.reset();
  std::error_code ec;
  if (std::filesystem::exists(path_, ec)) {
    std::filesystem::rename(path_, dir_ / "output.log.1", ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("rotate ", path_.string(), ": ", ec.message()));
    }
  }
  size_ = 0;
  return absl::OkStatus();
}

absl::Status JobLog::append(std::string_view data) {
  while (!data.empty()) {
    if (size_ >= max_bytes_) {
      if (absl::Status s = rotate(); !s.ok()) {
        return s;
      }
    }
    if (!fd_) {
      std::error_code ec;
      std::filesystem::create_directories(dir_, ec);
      fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
      if (!fd_) {
        return absl::InternalError(
            absl::StrCat("open ", path_.string(), ": ", std::strerror(errno)));
      }
      size_ = static_cast<std::uint64_t>(::lseek(fd_.get(), 0, SEEK_END));
    }
    const std::size_t room = static_cast<std::size_t>(max_bytes_ - size_);
    const std::size_t n = std::min(room, data.size());
    ssize_t w = ::write(fd_.get(), data.data(), n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::InternalError(
          absl::StrCat("write ", path_.string(), ": ", std::strerror(errno)));
    }
    size_ += static_cast<std::uint64_t>(w);
    total_ += static_cast<std::uint64_t>(w);
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return absl::OkStatus();
}

}  // namespace skein::node
