// Journal: the coordinator's append-only, fsync'd record of state changes,
// replayed at startup (RELIABILITY R5).
//
// File: <data-dir>/journal.jsonl. One skein.v1.JournalRecord per line in the
// proto3 JSON mapping (human-readable, greppable). A record is durable once
// append() returns OK: the line is written with one write() and fsync'd.
// A crash mid-write leaves at most one torn last line; open() drops it (and
// only it: a malformed line anywhere else is DATA_LOSS and the coordinator
// refuses to start rather than silently forget jobs).
//
// Job records are full snapshots, so replay keeps the last record per job;
// compact() rewrites the file with only those (tmp file + fsync + rename),
// which open() callers do once after replay to keep restarts fast.
//
// Thread-safety: none; the owner (Cluster) serializes calls under its lock.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skein/v1/journal.pb.h"

namespace skein::coordinator {

class Journal {
 public:
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Opens (creating if needed) <data_dir>/journal.jsonl and returns it with
  // every record it holds, in order.
  static absl::StatusOr<std::unique_ptr<Journal>> open(const std::string& data_dir,
                                                       std::vector<v1::JournalRecord>* replay);

  absl::Status append(const v1::JournalRecord& record);

  // Atomically replaces the whole journal with `records`.
  absl::Status compact(const std::vector<v1::JournalRecord>& records);

  const std::string& path() const { return path_; }

 private:
  Journal(std::string path, int fd);

  std::string path_;
  int fd_;  // O_APPEND
};

}  // namespace skein::coordinator
