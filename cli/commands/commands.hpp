// The `skein` subcommands, one file per verb. Each add_* function registers
// its subcommand on the app; the callback runs the verb and stores the
// process exit code in ctx.exit_code (0, kExitError, or a job's own code for
// `submit --wait`).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "options.hpp"

namespace skein::cli {

struct CommandContext {
  GlobalOptions opts;
  int exit_code = 0;
};

// Accepts a positive job id, with a message that says what one is.
inline CLI::Validator job_id_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::uint64_t v = 0;
        std::size_t used = 0;
        try {
          v = std::stoull(s, &used);
        } catch (...) {
          used = 0;
        }
        if (used != s.size() || s.empty() || s[0] == '-' || v == 0) {
          return "'" + s + "' is not a job id (a positive integer; see `skein jobs`)";
        }
        return std::string();
      },
      "JOB_ID");
}

// Skein's well-known port: coordinator, agents and CLI agree on it.
inline constexpr int kDefaultPort = 7700;
// "host" -> "host:7700"; "host:port" unchanged.
std::string join_address(const std::string& advertised);

void add_up(CLI::App& app, CommandContext& ctx);
void add_down(CLI::App& app, CommandContext& ctx);
void add_join(CLI::App& app, CommandContext& ctx);
void add_submit(CLI::App& app, CommandContext& ctx);
void add_jobs(CLI::App& app, CommandContext& ctx);
void add_status(CLI::App& app, CommandContext& ctx);
void add_logs(CLI::App& app, CommandContext& ctx);
void add_cancel(CLI::App& app, CommandContext& ctx);
void add_nodes(CLI::App& app, CommandContext& ctx);
void add_stats(CLI::App& app, CommandContext& ctx);
void add_token(CLI::App& app, CommandContext& ctx);
void add_user(CLI::App& app, CommandContext& ctx);
void add_config(CLI::App& app, CommandContext& ctx);

}  // namespace skein::cli
