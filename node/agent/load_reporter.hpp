// LoadReporter: samples this machine's load for the agent's heartbeats.
//
// CPU utilization is the busy share of all CPUs between two samples, from the
// aggregate line of /proc/stat; the first sample reports 0. Memory is
// MemAvailable from /proc/meminfo; the agent's own RSS comes from
// /proc/self/statm (it is part of the "agent idle < 30 MB" budget and is worth
// watching in production). Worker and job counts are passed in by the agent.
#pragma once

#include <cstdint>

#include "skein/v1/common.pb.h"

namespace skein::node {

class LoadReporter {
 public:
  // Not thread-safe: called from the heartbeat thread only.
  skein::v1::NodeLoad sample(int running_jobs, int running_workers);

 private:
  std::uint64_t prev_busy_ = 0;
  std::uint64_t prev_total_ = 0;
};

// Resident set size of this process in bytes, 0 if unknown.
std::int64_t self_rss_bytes();

}  // namespace skein::node
