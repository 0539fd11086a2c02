// The SKEIN_REMOTE names of a job binary, listed at submit time so that the
// coordinator can fail a spawn of an unknown name at once (docs/wire.md
// "Task dispatch"; SubmitJobRequest.remote_functions).
//
// How: the binary is run here with SKEIN_LIST_REMOTES=1 in its environment
// and no arguments. A binary linked with the Skein SDK prints its registered
// names, one per line, and exits 0 before main (node/remote/registry.cpp).
// The run is bounded: its own process group (so a forked child dies with
// it), stdin and stderr on /dev/null, at most kMaxOutputBytes of output, and
// a timeout after which the group is SIGKILLed. Any failure (not executable
// on this machine, timeout, non-zero exit, oversized output) is an error:
// the caller submits without a list and warns; it never blocks a submit.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace skein::cli {

inline constexpr std::chrono::milliseconds kListRemotesTimeout{5000};
inline constexpr size_t kMaxRemoteListBytes = size_t{1} << 20;

// Sorted, without duplicates or empty lines. Errors: FAILED_PRECONDITION (not
// executable / cannot be run here), DEADLINE_EXCEEDED, UNKNOWN (non-zero exit
// or signal), RESOURCE_EXHAUSTED (output over 1 MiB), INVALID_ARGUMENT (a line
// that is no function name, e.g. a program without the SDK ran its main).
absl::StatusOr<std::vector<std::string>> list_remote_functions(
    const std::string& binary, std::chrono::milliseconds timeout = kListRemotesTimeout);

}  // namespace skein::cli
