#include "wire/frame.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace skein::node {
namespace {

std::uint32_t decode_length(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (static_cast<std::uint32_t>(u[0]) << 24) | (static_cast<std::uint32_t>(u[1]) << 16) |
         (static_cast<std::uint32_t>(u[2]) << 8) | static_cast<std::uint32_t>(u[3]);
}

absl::Status oversized(std::uint64_t n) {
  return absl::InvalidArgumentError(
      absl::StrCat("frame of ", n, " bytes exceeds the limit of ", kMaxFrameBytes));
}

absl::Status read_exact(int fd, char* p, std::size_t n, bool* clean_eof) {
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r == 0) {
      if (got == 0 && clean_eof != nullptr) {
        *clean_eof = true;
        return absl::NotFoundError("end of stream");
      }
      return absl::DataLossError("stream ended inside a frame");
    }
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::UnavailableError(absl::StrCat("read: ", std::strerror(errno)));
    }
    got += static_cast<std::size_t>(r);
  }
  return absl::OkStatus();
}

}  // namespace

std::string encode_frame(std::string_view payload) {
  std::string out;
  out.resize(kFrameHeaderBytes + payload.size());
  const auto n = static_cast<std::uint32_t>(payload.size());
  out[0] = static_cast<char>((n >> 24) & 0xff);
  out[1] = static_cast<char>((n >> 16) & 0xff);
  out[2] = static_cast<char>((n >> 8) & 0xff);
  out[3] = static_cast<char>(n & 0xff);
  std::memcpy(out.data() + kFrameHeaderBytes, payload.data(), payload.size());
  return out;
}

void FrameReader::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  buf_.append(bytes);
}

absl::StatusOr<std::optional<std::string>> FrameReader::next() {
  if (buffered() < kFrameHeaderBytes) {
    return std::optional<std::string>();
  }
  const std::uint32_t n = decode_length(buf_.data() + pos_);
  if (n > kMaxFrameBytes) {
    return oversized(n);
  }
  if (buffered() < kFrameHeaderBytes + n) {
    return std::optional<std::string>();
  }
  std::string payload = buf_.substr(pos_ + kFrameHeaderBytes, n);
  pos_ += kFrameHeaderBytes + n;
  // Compact once the consumed prefix dominates, so a long-lived connection's
  // buffer stays proportional to one frame.
  if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return std::optional<std::string>(std::move(payload));
}

absl::Status write_frame(int fd, std::string_view payload) {
  if (payload.size() > kMaxFrameBytes) {
    return oversized(payload.size());
  }
  const std::string frame = encode_frame(payload);
  std::size_t sent = 0;
  while (sent < frame.size()) {
    // MSG_NOSIGNAL: a vanished agent must surface as an error, not SIGPIPE
    // killing the user's program.
    ssize_t r = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    }
    sent += static_cast<std::size_t>(r);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> read_frame(int fd) {
  char header[kFrameHeaderBytes];
  bool eof = false;
  if (absl::Status s = read_exact(fd, header, sizeof(header), &eof); !s.ok()) {
    return s;
  }
  const std::uint32_t n = decode_length(header);
  if (n > kMaxFrameBytes) {
    return oversized(n);
  }
  std::string payload(n, '\0');
  if (absl::Status s = read_exact(fd, payload.data(), n, nullptr); !s.ok()) {
    return s;
  }
  return payload;
}

}  // namespace skein::node
