#include "log_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace skein::coordinator {
namespace {

constexpr size_t kHeaderBytes = 1 + 4 + 8;
// Stream-byte flag of a labelled record (see the header); LogStream values
// stay far below it.
constexpr unsigned char kLabelledFlag = 0x80;
constexpr size_t kLabelFixedBytes = 1 + 4 + 1;  // source, pid, node_id length
// Node ids are short ("node-12"); a longer one is cut rather than refused.
constexpr size_t kMaxNodeIdBytes = 255;
// A record larger than this in a file is corruption, not data (agents send <= 64 KiB).
constexpr uint32_t kMaxRecordBytes = 16u << 20;

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

uint64_t get_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LogStore::LogStore(std::string dir, uint64_t max_bytes_per_job)
    : dir_(std::move(dir)), max_bytes_per_job_(max_bytes_per_job) {}

absl::StatusOr<std::unique_ptr<LogStore>> LogStore::open(const std::string& data_dir,
                                                         uint64_t max_bytes_per_job) {
  std::string dir = data_dir + "/logs";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("create ", dir, ": ", ec.message()));
  }
  return std::unique_ptr<LogStore>(new LogStore(dir, max_bytes_per_job));
}

std::string LogStore::path_of(uint64_t job_id) const {
  return absl::StrCat(dir_, "/", job_id, ".log");
}

std::string LogStore::truncated_marker_of(uint64_t job_id) const {
  return absl::StrCat(dir_, "/", job_id, ".truncated");
}

LogStore::JobLog& LogStore::job_locked(uint64_t job_id) const {
  auto it = jobs_.find(job_id);
  if (it != jobs_.end()) {
    return it->second;
  }
  JobLog log;
  struct stat st;
  if (::stat(path_of(job_id).c_str(), &st) == 0) {
    log.size = static_cast<uint64_t>(st.st_size);
  }
  // The truncation is remembered in a marker file, so a restart does not
  // reopen a capped log to small chunks.
  log.truncated = ::stat(truncated_marker_of(job_id).c_str(), &st) == 0;
  return jobs_.emplace(job_id, log).first->second;
}

absl::Status LogStore::write_record_locked(uint64_t job_id, JobLog& log, v1::LogStream stream,
                                           int64_t unix_ms, std::string_view data,
                                           const Label& label) {
  const bool labelled = !label.node_id.empty() || label.source != v1::LOG_SOURCE_UNSPECIFIED;
  const std::string_view node = std::string_view(label.node_id).substr(0, kMaxNodeIdBytes);
  const size_t body = data.size() + (labelled ? kLabelFixedBytes + node.size() : 0);
  std::string rec;
  rec.reserve(kHeaderBytes + body);
  rec.push_back(
      static_cast<char>(static_cast<unsigned char>(stream) | (labelled ? kLabelledFlag : 0)));
  put_le(rec, body, 4);
  put_le(rec, static_cast<uint64_t>(unix_ms), 8);
  if (labelled) {
    rec.push_back(static_cast<char>(label.source));
    put_le(rec, static_cast<uint32_t>(label.pid), 4);
    rec.push_back(static_cast<char>(node.size()));
    rec.append(node);
  }
  rec.append(data);
  std::string path = path_of(job_id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  ssize_t n = ::write(fd, rec.data(), rec.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(rec.size())) {
    std::string msg = absl::StrCat("append ", path, ": ", n < 0 ? std::strerror(err) : "short");
    return (n < 0 && err == ENOSPC) ? absl::ResourceExhaustedError(msg) : absl::InternalError(msg);
  }
  log.size += rec.size();
  return absl::OkStatus();
}

absl::Status LogStore::append(const v1::LogChunk& chunk) {
  if (chunk.job_id() == 0) {
    return absl::InvalidArgumentError("log chunk without job_id");
  }
  std::lock_guard<std::mutex> lock(mu_);
  JobLog& log = job_locked(chunk.job_id());
  if (log.truncated) {
    log.dropped += chunk.data().size();
    return absl::OkStatus();
  }
  if (log.size + kHeaderBytes + chunk.data().size() > max_bytes_per_job_) {
    log.truncated = true;
    int mfd =
        ::open(truncated_marker_of(chunk.job_id()).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (mfd >= 0) {
      ::close(mfd);
    }
    log.dropped += chunk.data().size();
    std::string notice =
        absl::StrCat("\n[skein: log truncated at ", log.size, " bytes (cap ", max_bytes_per_job_,
                     "); further output of this job is dropped]\n");
    return write_record_locked(chunk.job_id(), log, v1::LOG_STREAM_SYSTEM, now_unix_ms(), notice,
                               Label{});
  }
  v1::LogStream stream = chunk.stream();
  if (!v1::LogStream_IsValid(stream) || stream == v1::LOG_STREAM_UNSPECIFIED) {
    stream = v1::LOG_STREAM_STDOUT;
  }
  v1::LogSource source = chunk.source();
  if (!v1::LogSource_IsValid(source)) {
    source = v1::LOG_SOURCE_UNSPECIFIED;
  }
  return write_record_locked(chunk.job_id(), log, stream,
                             chunk.unix_ms() ? chunk.unix_ms() : now_unix_ms(), chunk.data(),
                             Label{chunk.node_id(), source, chunk.pid()});
}

absl::StatusOr<LogStore::ReadResult> LogStore::read(uint64_t job_id, uint64_t offset,
                                                    size_t max_bytes) const {
  ReadResult out;
  out.next_offset = offset;
  uint64_t size;
  {
    std::lock_guard<std::mutex> lock(mu_);
    size = job_locked(job_id).size;  // records below `size` are complete
  }
  if (offset >= size) {
    return out;
  }
  int fd = ::open(path_of(job_id).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("open log of job ", job_id, ": ", std::strerror(errno)));
  }
  size_t budget = max_bytes;
  uint64_t pos = offset;
  absl::Status status;
  while (pos + kHeaderBytes <= size) {
    unsigned char hdr[kHeaderBytes];
    if (::pread(fd, hdr, kHeaderBytes, static_cast<off_t>(pos)) !=
        static_cast<ssize_t>(kHeaderBytes)) {
      status = absl::InternalError(absl::StrCat("short read in log of job ", job_id));
      break;
    }
    uint32_t len = static_cast<uint32_t>(get_le(hdr + 1, 4));
    if (len > kMaxRecordBytes || pos + kHeaderBytes + len > size) {
      status = absl::DataLossError(
          absl::StrCat("corrupt record at byte ", pos, " of job ", job_id, "'s log"));
      break;
    }
    if (!out.chunks.empty() && len > budget) {
      break;
    }
    v1::LogChunk chunk;
    chunk.set_job_id(job_id);
    chunk.set_stream(static_cast<v1::LogStream>(hdr[0] & ~kLabelledFlag));
    chunk.set_unix_ms(static_cast<int64_t>(get_le(hdr + 5, 8)));
    std::string data(len, '\0');
    if (len > 0 && ::pread(fd, data.data(), len, static_cast<off_t>(pos + kHeaderBytes)) !=
                       static_cast<ssize_t>(len)) {
      status = absl::InternalError(absl::StrCat("short read in log of job ", job_id));
      break;
    }
    if ((hdr[0] & kLabelledFlag) != 0) {
      const auto* p = reinterpret_cast<const unsigned char*>(data.data());
      const size_t node_len = len >= kLabelFixedBytes ? p[5] : 0;
      if (len < kLabelFixedBytes || len < kLabelFixedBytes + node_len) {
        status = absl::DataLossError(
            absl::StrCat("corrupt label at byte ", pos, " of job ", job_id, "'s log"));
        break;
      }
      chunk.set_source(static_cast<v1::LogSource>(p[0]));
      chunk.set_pid(static_cast<int32_t>(static_cast<uint32_t>(get_le(p + 1, 4))));
      chunk.set_node_id(data.substr(kLabelFixedBytes, node_len));
      data.erase(0, kLabelFixedBytes + node_len);
    }
    chunk.set_data(std::move(data));
    out.chunks.push_back(std::move(chunk));
    pos += kHeaderBytes + len;
    budget = len > budget ? 0 : budget - len;
    if (budget == 0) {
      break;
    }
  }
  ::close(fd);
  if (!status.ok() && out.chunks.empty()) {
    return status;
  }
  out.next_offset = pos;
  return out;
}

uint64_t LogStore::size_of(uint64_t job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return job_locked(job_id).size;
}

uint64_t LogStore::dropped_bytes(uint64_t job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return job_locked(job_id).dropped;
}

}  // namespace skein::coordinator
