// Launcher: starts Skein daemons in the background and stops exactly those.
//
// `skein up` starts skein-coordinator and N skein-node processes, each in its
// own session (so closing the terminal does not kill the cluster), stdin from
// /dev/null, stdout+stderr appended to a log file. Each started daemon gets a
// pidfile holding its pid *and* its start time (field 22 of /proc/<pid>/stat):
// `skein down` signals a pid only if a process with that pid and that start
// time still exists, so a recycled pid is never killed by mistake.
//
// Binaries are looked up next to the running `skein` (installed layout), in
// the sibling build directories (build tree: build/cli/skein,
// build/coordinator/skein-coordinator, build/node/skein-node), then on PATH.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein::cli {

struct DaemonSpec {
  std::string exe;
  std::vector<std::string> args;  // without argv[0]
  std::string log_file;
  std::string pid_file;
};

struct PidRecord {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // clock ticks since boot, /proc/<pid>/stat field 22
};

absl::StatusOr<std::string> find_binary(const std::string& name);

// Forks the daemon (new session), writes its pidfile, returns its pid.
absl::StatusOr<PidRecord> start_daemon(const DaemonSpec& spec);

absl::Status write_pidfile(const std::string& path, const PidRecord& rec);
absl::StatusOr<PidRecord> read_pidfile(const std::string& path);
// True if the recorded process still runs (same pid, same start time).
bool is_running(const PidRecord& rec);
std::uint64_t process_start_time(pid_t pid);  // 0 if gone

// SIGTERM, wait up to `grace`, then SIGKILL; OK once the process is gone.
absl::Status stop_process(const PidRecord& rec, std::chrono::milliseconds grace);

// Polls until `path` exists and is non-empty; returns its first line.
// Fails early if `watch` (a child of ours) exits meanwhile.
absl::StatusOr<std::string> wait_for_file(const std::string& path,
                                          std::chrono::milliseconds timeout, pid_t watch);

// The last `max_lines` lines of a log file, for error messages.
std::string tail_file(const std::string& path, int max_lines);

}  // namespace skein::cli
