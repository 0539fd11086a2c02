// JobLog: a job's captured stdout/stderr on the node's disk, bounded in size.
//
// Output is appended to `<dir>/output.log`. When that file would exceed
// `max_bytes`, it is renamed to `output.log.1` (replacing the previous one) and
// a new file is started, so a job's local log never takes more than
// 2 * max_bytes of disk however much it prints. The coordinator keeps the
// authoritative copy; this one is for an operator on the node.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "absl/status/status.h"
#include "wire/unique_fd.hpp"

namespace skein::node {

class JobLog {
 public:
  JobLog(std::filesystem::path dir, std::uint64_t max_bytes);
  absl::Status append(std::string_view data);
  std::uint64_t total_written() const { return total_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  absl::Status rotate();

  std::filesystem::path dir_;
  std::filesystem::path path_;
  std::uint64_t max_bytes_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;   // bytes in the current file
  std::uint64_t total_ = 0;  // bytes ever appended
};

}  // namespace skein::node
