// Frames on the node-local Unix socket between a node agent and its workers.
//
// A frame is a 4-byte big-endian payload length followed by the payload (a
// serialized skein.v1.WorkerToAgent or AgentToWorker; proto/skein/v1/worker.proto).
// Lengths above kMaxFrameBytes are a protocol error: the reader refuses them
// before allocating, so a confused or hostile worker cannot make the agent
// allocate without bound.
//
// FrameReader is incremental (for the agent's non-blocking event loop): feed it
// whatever read() returned and pop complete frames. write_frame/read_frame are
// blocking helpers for the worker side, which owns a dedicated thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein::node {

inline constexpr std::size_t kFrameHeaderBytes = 4;
// The limit fixed by worker.proto. Stats samples are a few hundred bytes.
inline constexpr std::size_t kMaxFrameBytes = std::size_t{16} << 20;

std::string encode_frame(std::string_view payload);

class FrameReader {
 public:
  // Appends raw bytes received from the socket.
  void feed(std::string_view bytes);
  // Next complete payload, std::nullopt if more bytes are needed, or an error
  // if the stream announced an oversized frame (the connection must be closed).
  absl::StatusOr<std::optional<std::string>> next();
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;  // bytes of buf_ already consumed; compacted lazily
};

// Blocking: writes one whole frame to fd (retrying on EINTR / short writes).
absl::Status write_frame(int fd, std::string_view payload);
// Blocking: reads one whole frame; NotFound at a clean end of stream.
absl::StatusOr<std::string> read_frame(int fd);

}  // namespace skein::node
