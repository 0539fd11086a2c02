// Printing a job's log as the coordinator streams it (StreamLogs), shared by
// `skein logs` and `skein submit --wait`.
//
// Chunks are written in arrival order: stdout chunks to our stdout, stderr
// chunks to our stderr, Skein's own notes (LOG_STREAM_SYSTEM) to stderr
// prefixed with "[skein] ". With follow, the stream ends when the job is
// terminal and every node's output is in (docs/wire.md), and the last message
// carries the final JobInfo, returned here.
//
// Labels (issue 10). A job's output comes from its driver and from its task
// workers on every node. By default the driver's output is written exactly as
// it was printed (scripts grep it), and every other process's output line by
// line as "[node-2 task] text": a labelled line is written once complete (or
// at the end of the stream, with a newline added), so lines of different
// processes never run into each other; if a driver line is unfinished when a
// labelled one comes, a newline is written first. LogLabels::kAll labels the
// driver's lines too ("[node-1 driver] "); kNone writes every chunk raw, as
// before issue 10. Records stored before issue 10 carry no label and are
// written raw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "client.hpp"
#include "skein/v1/common.pb.h"

namespace skein::cli {

enum class LogLabels { kAuto, kAll, kNone };

struct LogPrintOptions {
  LogLabels labels = LogLabels::kAuto;
  std::string node;  // only this node's output ("" = every node)
};

absl::StatusOr<std::optional<skein::v1::JobInfo>> print_job_log(
    Client& client, std::uint64_t job_id, bool follow,
    const LogPrintOptions& options = LogPrintOptions());

// The process exit code that mirrors a finished job: its exit code, 128+signal
// when killed by a signal, 1 for any other failure or a cancel.
int exit_code_of(const skein::v1::JobInfo& job);

// "SUCCEEDED", "FAILED", ... without the enum prefix.
std::string state_name(skein::v1::JobState state);

}  // namespace skein::cli
