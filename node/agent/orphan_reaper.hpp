// Orphan reaping: processes a previous run of this agent left behind.
//
// PDEATHSIG kills a worker when its agent dies, but not the processes the
// worker started: they outlive it, reparented to init. Workers run in their
// own session (setsid), so every process a job ever started carries the
// worker's pid as its session id. The supervisor records each live worker as
// `<records_dir>/<pid>` (holding the worker's start time) and removes the
// record when it reaps the worker; a record still present at startup means
// the agent died with that worker running. reap_orphans() then SIGKILLs every
// process whose session id is that pid — the session id of a dead worker
// cannot belong to anyone else until a new process with that pid calls
// setsid, and a live process with that pid is killed only if its start time
// matches the record.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>

namespace skein::node {

// Records `pid` as a running worker (start time from /proc).
void record_worker(const std::filesystem::path& records_dir, pid_t pid);
void forget_worker(const std::filesystem::path& records_dir, pid_t pid);

// Kills what is left of every recorded worker's session, removes the records,
// returns the number of processes signalled.
int reap_orphans(const std::filesystem::path& records_dir);

}  // namespace skein::node
