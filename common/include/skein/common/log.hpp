// Logging: one named spdlog logger per component ("coordinator", "node",
// "membership", ...), all writing to stderr with the same pattern, so a
// daemon's log file (its redirected stderr) reads as one timeline.
//
//   auto log = skein::logger("membership");
//   log->info("node {} declared dead: {}", id, reason);
//
// Never log the cluster token or anything derived from it.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace skein {

// Returns the logger for `component`, creating it on first use. Thread-safe.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

// Sets the level of every logger, present and future: "trace", "debug",
// "info", "warn", "error", "off". Unknown names fall back to "info".
void set_log_level(const std::string& level);

}  // namespace skein
