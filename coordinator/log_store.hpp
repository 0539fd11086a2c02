// LogStore: each job's output as relayed by node agents, in
// <data-dir>/logs/<job_id>.log, bounded per job.
//
// File format: a sequence of records, each
//   u8 stream (skein.v1.LogStream) | u32 little-endian length | i64 LE unix_ms | body
// so stdout and stderr stay interleaved in arrival order and a reader can
// resume at any record boundary (the offsets read() hands out). The body is
// the data, unless the stream byte has kLabelledFlag (0x80) set: then the
// body is
//   u8 source (skein.v1.LogSource) | i32 LE pid | u8 n | n bytes node_id | data
// and `length` counts all of it. Labelled records came with issue 10 (output
// of every node of a job, labelled by node and process); files written
// before it hold only unlabelled records and read back with empty labels.
//
// Bound: once a chunk would take a job's file past max_bytes_per_job, one
// LOG_STREAM_SYSTEM record "[skein: log truncated ...]" is written, an empty
// <job_id>.truncated marker is created (so the cap survives restarts) and
// every later chunk of that job is dropped (counted in dropped_bytes()). The coordinator's memory
// does not grow with the log: chunks go straight to the file.
//
// Thread-safety: all methods take mu_; appends and reads of different jobs
// serialize on it, which is fine at log-relay rates (64 KiB chunks).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skein/v1/common.pb.h"

namespace skein::coordinator {

class LogStore {
 public:
  static absl::StatusOr<std::unique_ptr<LogStore>> open(const std::string& data_dir,
                                                        uint64_t max_bytes_per_job);

  absl::Status append(const v1::LogChunk& chunk);

  struct ReadResult {
    std::vector<v1::LogChunk> chunks;
    uint64_t next_offset = 0;
  };
  // Up to max_bytes of data (at least one record if any) starting at byte
  // `offset`, which must be 0 or a next_offset from an earlier read.
  absl::StatusOr<ReadResult> read(uint64_t job_id, uint64_t offset, size_t max_bytes) const;

  uint64_t size_of(uint64_t job_id) const;
  uint64_t dropped_bytes(uint64_t job_id) const;

 private:
  struct JobLog {
    uint64_t size = 0;     // bytes in the file
    uint64_t dropped = 0;  // data bytes dropped after truncation
    bool truncated = false;
  };

  LogStore(std::string dir, uint64_t max_bytes_per_job);
  std::string path_of(uint64_t job_id) const;
  std::string truncated_marker_of(uint64_t job_id) const;  // exists once capped
  JobLog& job_locked(uint64_t job_id) const;               // REQUIRES(mu_)
  // Who printed a record; all-empty = an unlabelled record.
  struct Label {
    std::string node_id;
    v1::LogSource source = v1::LOG_SOURCE_UNSPECIFIED;
    int32_t pid = 0;
  };
  absl::Status write_record_locked(uint64_t job_id, JobLog& log, v1::LogStream stream,
                                   int64_t unix_ms, std::string_view data, const Label& label);

  const std::string dir_;
  const uint64_t max_bytes_per_job_;
  mutable std::mutex mu_;
  mutable std::map<uint64_t, JobLog> jobs_;  // GUARDED_BY(mu_); loaded lazily from file sizes
};

}  // namespace skein::coordinator
