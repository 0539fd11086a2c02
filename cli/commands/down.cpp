// skein down: stops the daemons `skein up` / `skein join` started from this
// state directory — and only those: each pidfile names a pid and its start
// time, and a process is signalled only if both still match. Agents stop
// first (they kill their workers), then the coordinator.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "launcher.hpp"

namespace skein::cli {
namespace {

int run_down(const CommandContext& ctx, int grace_ms) {
  const std::filesystem::path state = ctx.opts.resolved_state_dir();
  const auto pids = state / "pids";
  std::vector<std::filesystem::path> agents;
  std::vector<std::filesystem::path> coordinators;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(pids, ec)) {
    if (e.path().extension() != ".pid") {
      continue;
    }
    (e.path().filename() == "coordinator.pid" ? coordinators : agents).push_back(e.path());
  }
  int stopped = 0;
  int failed = 0;
  for (const auto& group : {agents, coordinators}) {
    for (const auto& pidfile : group) {
      auto rec = read_pidfile(pidfile.string());
      if (rec.ok() && is_running(*rec)) {
        absl::Status s = stop_process(*rec, std::chrono::milliseconds(grace_ms));
        if (!s.ok()) {
          std::fprintf(stderr, "skein down: %s: %s\n", pidfile.filename().c_str(),
                       std::string(s.message()).c_str());
          ++failed;
          continue;
        }
        ++stopped;
      }
      std::filesystem::remove(pidfile, ec);
    }
  }
  std::filesystem::remove(state / "coordinator.addr", ec);
  if (stopped == 0 && failed == 0) {
    std::printf("no cluster running from %s\n", state.c_str());
    return kExitOk;
  }
  std::printf("stopped %d process%s (state in %s)\n", stopped, stopped == 1 ? "" : "es",
              state.c_str());
  return failed == 0 ? kExitOk : kExitError;
}

}  // namespace

void add_down(CLI::App& app, CommandContext& ctx) {
  auto grace = std::make_shared<int>(5000);
  auto* cmd = app.add_subcommand(
      "down",
      "Stop the coordinator and node agents started by `skein up` / `skein join` from this state "
      "directory (SIGTERM, then SIGKILL after the grace period). Other processes are never "
      "touched.");
  cmd->add_option("--grace-ms", *grace, "Wait this long after SIGTERM before SIGKILL")
      ->capture_default_str();
  cmd->callback([&ctx, grace] { ctx.exit_code = run_down(ctx, *grace); });
}

}  // namespace skein::cli
