// skein join: runs a node agent on this machine for an existing coordinator.
//
//   skein join 10.0.0.1:7700 --token abc123.<secret> --ca-hash sha256:<hex>
//
// The agent pins the coordinator's CA by the hash, trades the join token for
// a node certificate (agent/bootstrap.hpp) and keeps it in its work dir; the
// token goes to the agent in a 0600 file, never on its command line. Run
// again later without --token: the agent reuses its certificate. Without
// --token, the agent uses the admin token file instead (a loopback cluster
// on this machine). By default the agent runs in the background (pidfile in
// <state>/pids/join-<name>.pid, stopped by `skein down`) and the command
// returns once the agent has registered; --foreground runs it in place.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "launcher.hpp"
#include "skein/common/token.hpp"

namespace skein::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct JoinArgs {
  std::string address;
  std::string coordinator;
  std::string token;
  std::string ca_hash;
  std::string work_dir;
  std::string node_name;
  int cpus = 0;
  std::string memory;
  std::string labels;
  std::vector<std::string> node_flags;
  bool foreground = false;
  int ready_timeout_ms = 15000;
};

int run_join(const CommandContext& ctx, const JoinArgs& a) {
  std::string address = !a.address.empty() ? a.address : a.coordinator;
  if (address.empty()) {
    return fail("join",
                absl::InvalidArgumentError(
                    "which coordinator? `skein join HOST[:PORT] --token TOKEN --ca-hash "
                    "sha256:HEX` (printed by `skein up --listen` or `skein token create`)"));
  }
  address = join_address(address);
  if (!a.token.empty() && a.ca_hash.empty()) {
    return fail("join", absl::InvalidArgumentError(
                            "--token needs --ca-hash sha256:HEX, which pins the coordinator's CA "
                            "(printed with the token); without it a man in the middle could "
                            "pose as the coordinator"));
  }
  auto node_bin = find_binary("skein-node");
  if (!node_bin.ok()) {
    return fail("join", node_bin.status());
  }
  const std::filesystem::path state = ctx.opts.resolved_state_dir();
  std::string name = a.node_name;
  if (name.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    name = host;
  }
  const std::string work_dir =
      a.work_dir.empty() ? (state / "nodes" / ("join-" + name)).string() : a.work_dir;
  std::error_code ec;
  std::filesystem::create_directories(work_dir, ec);
  ::chmod(work_dir.c_str(), 0700);
  std::vector<std::string> args = {"--coordinator", address,       "--work-dir",
                                   work_dir,        "--node-name", name};
  if (!a.token.empty()) {
    const std::string token_file = work_dir + "/join.token";
    if (absl::Status s = write_token_file(token_file, a.token); !s.ok()) {
      return fail("join", s);
    }
    args.insert(args.end(), {"--bootstrap-token-file", token_file, "--ca-hash", a.ca_hash});
  } else if (!std::filesystem::exists(work_dir + "/pki/node.crt")) {
    args.insert(args.end(), {"--token-file", ctx.opts.resolved_token_file()});
  }
  if (a.cpus > 0) {
    args.insert(args.end(), {"--cpus", std::to_string(a.cpus)});
  }
  if (!a.memory.empty()) {
    args.insert(args.end(), {"--memory", a.memory});
  }
  if (!a.labels.empty()) {
    args.insert(args.end(), {"--labels", a.labels});
  }
  args.insert(args.end(), a.node_flags.begin(), a.node_flags.end());
  if (a.foreground) {
    std::vector<char*> argv = {node_bin->data()};
    for (auto& s : args) {
      argv.push_back(s.data());
    }
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    return fail("join", absl::InternalError(absl::StrCat("exec ", *node_bin, " failed")));
  }
  std::filesystem::create_directories(state / "pids", ec);
  std::filesystem::create_directories(state / "logs", ec);
  const std::string ready_file = work_dir + "/node.id";
  std::filesystem::remove(ready_file, ec);
  DaemonSpec spec;
  spec.exe = *node_bin;
  spec.args = args;
  spec.log_file = (state / "logs" / ("join-" + name + ".log")).string();
  spec.pid_file = (state / "pids" / ("join-" + name + ".pid")).string();
  auto rec = start_daemon(spec);
  if (!rec.ok()) {
    return fail("join", rec.status());
  }
  // The agent says it is in by writing its node id; a joining host has no
  // credential to ask the coordinator itself.
  auto node_id = wait_for_file(ready_file, std::chrono::milliseconds(a.ready_timeout_ms), rec->pid);
  if (!node_id.ok()) {
    const bool exited = !is_running(*rec);
    if (!exited) {
      [[maybe_unused]] absl::Status s = stop_process(*rec, std::chrono::milliseconds(2000));
    }
    std::filesystem::remove(spec.pid_file, ec);
    return fail("join", absl::UnavailableError(absl::StrCat(
                            exited ? "the agent exited: " : "the agent did not register within ",
                            exited ? "" : absl::StrCat(a.ready_timeout_ms, " ms; "), "\n",
                            tail_file(spec.log_file, 6))));
  }
  std::printf("joined %s as %s ('%s', pid %d, log %s)\n", address.c_str(), node_id->c_str(),
              name.c_str(), rec->pid, spec.log_file.c_str());
  return kExitOk;
}

}  // namespace

void add_join(CLI::App& app, CommandContext& ctx) {
  auto a = std::make_shared<JoinArgs>();
  auto* cmd = app.add_subcommand(
      "join",
      "Run a node agent on this machine that joins the coordinator at ADDR, with the join token "
      "and CA hash that `skein up --listen` or `skein token create` print:\n  skein join "
      "10.0.0.1:7700 --token abc123.<secret> --ca-hash sha256:<hex>");
  cmd->add_option("ADDR", a->address, "Coordinator host[:port] (port 7700 if omitted)");
  cmd->add_option("--coordinator", a->coordinator, "Same as ADDR");
  cmd->add_option("--token", a->token,
                  "Join token (short-lived, single purpose; handed to the agent in a 0600 file)");
  cmd->add_option("--ca-hash", a->ca_hash, "sha256:<hex> pin of the cluster CA");
  cmd->add_option("--work-dir", a->work_dir,
                  "Agent's private directory (default: <state-dir>/nodes/join-<name>)");
  cmd->add_option("--node-name", a->node_name,
                  "Name of this node, put in its certificate (default: hostname)");
  cmd->add_option("--cpus", a->cpus, "CPUs offered to jobs (default: all)");
  cmd->add_option("--memory", a->memory, "Memory offered to jobs, e.g. 8G (default: all)");
  cmd->add_option("--labels", a->labels, "Placement labels k=v[,k=v...]");
  cmd->add_option("--node-flag", a->node_flags, "Extra flag for skein-node (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--foreground", a->foreground,
                "Run the agent in this terminal instead of in the background");
  cmd->add_option("--ready-timeout-ms", a->ready_timeout_ms, "Wait this long for registration")
      ->capture_default_str();
  cmd->callback([&ctx, a] { ctx.exit_code = run_join(ctx, *a); });
}

}  // namespace skein::cli
