// Printing a job's log as the coordinator streams it (StreamLogs), shared by
// `skein logs` and `skein submit --wait`.
//
// Chunks are written in arrival order: stdout chunks to our stdout, stderr
// chunks to our stderr, Skein's own notes (LOG_STREAM_SYSTEM) to stderr
// prefixed with "[skein] ". With follow, the stream ends when the job is
// terminal and the last message carries the final JobInfo, returned here.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "client.hpp"
#include "skein/v1/common.pb.h"

namespace skein::cli {

absl::StatusOr<std::optional<skein::v1::JobInfo>> print_job_log(Client& client,
                                                                std::uint64_t job_id, bool follow);

// The process exit code that mirrors a finished job: its exit code, 128+signal
// when killed by a signal, 1 for any other failure or a cancel.
int exit_code_of(const skein::v1::JobInfo& job);

// "SUCCEEDED", "FAILED", ... without the enum prefix.
std::string state_name(skein::v1::JobState state);

}  // namespace skein::cli
