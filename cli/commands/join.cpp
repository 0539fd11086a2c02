// skein join: runs a node agent on this machine for an existing coordinator
// (e.g. one started by `skein up` on another machine). The token comes from a
// file copied from the coordinator's state directory; it is never an argument.
// By default the agent is started in the background (pidfile in
// <state>/pids/join-<name>.pid, stopped by `skein down`) and the command
// returns once the coordinator lists the node; --foreground runs it in place.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "launcher.hpp"

namespace skein::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct JoinArgs {
  std::string coordinator;
  std::string work_dir;
  std::string node_name;
  int cpus = 0;
  std::string memory;
  std::string labels;
  bool foreground = false;
  int ready_timeout_ms = 15000;
};

int run_join(const CommandContext& ctx, const JoinArgs& a) {
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
  const std::string token_file = ctx.opts.resolved_token_file();
  const std::string work_dir =
      a.work_dir.empty() ? (state / "nodes" / ("join-" + name)).string() : a.work_dir;
  std::vector<std::string> args = {"--coordinator", a.coordinator, "--token-file", token_file,
                                   "--work-dir",    work_dir,      "--node-name",  name};
  if (a.cpus > 0) {
    args.insert(args.end(), {"--cpus", std::to_string(a.cpus)});
  }
  if (!a.memory.empty()) {
    args.insert(args.end(), {"--memory", a.memory});
  }
  if (!a.labels.empty()) {
    args.insert(args.end(), {"--labels", a.labels});
  }
  if (ctx.opts.insecure) {
    args.push_back("--insecure");
  }
  if (!ctx.opts.tls_ca.empty()) {
    args.insert(args.end(), {"--tls-ca", ctx.opts.tls_ca});
  }
  if (a.foreground) {
    std::vector<char*> argv = {node_bin->data()};
    for (auto& s : args) {
      argv.push_back(s.data());
    }
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    return fail("join", absl::InternalError(absl::StrCat("exec ", *node_bin, " failed")));
  }
  std::error_code ec;
  std::filesystem::create_directories(state / "pids", ec);
  std::filesystem::create_directories(state / "logs", ec);
  DaemonSpec spec;
  spec.exe = *node_bin;
  spec.args = args;
  spec.log_file = (state / "logs" / ("join-" + name + ".log")).string();
  spec.pid_file = (state / "pids" / ("join-" + name + ".pid")).string();
  auto rec = start_daemon(spec);
  if (!rec.ok()) {
    return fail("join", rec.status());
  }
  GlobalOptions opts = ctx.opts;
  opts.coordinator = a.coordinator;
  auto client = Client::connect(opts);
  if (!client.ok()) {
    return fail("join", client.status());
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(a.ready_timeout_ms);
  while (Clock::now() < deadline) {
    if (!is_running(*rec)) {
      return fail("join", absl::UnavailableError(
                              absl::StrCat("skein-node exited:\n", tail_file(spec.log_file, 10))));
    }
    skein::v1::ListNodesResponse resp;
    auto rpc = client->unary_context();
    if (client->stub().ListNodes(rpc.get(), {}, &resp).ok()) {
      for (const auto& n : resp.nodes()) {
        if (n.hostname() == name && n.state() == skein::v1::NODE_STATE_ALIVE) {
          std::printf("joined %s as %s (pid %d, log %s)\n", a.coordinator.c_str(),
                      n.node_id().c_str(), rec->pid, spec.log_file.c_str());
          return kExitOk;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fail("join", absl::DeadlineExceededError(absl::StrCat("the node did not register within ",
                                                               a.ready_timeout_ms, " ms; see ",
                                                               spec.log_file)));
}

}  // namespace

void add_join(CLI::App& app, CommandContext& ctx) {
  auto a = std::make_shared<JoinArgs>();
  auto* cmd = app.add_subcommand(
      "join",
      "Run a node agent on this machine that joins the coordinator at ADDR. Copy the cluster token "
      "file from the coordinator's state directory and pass it with --token-file.");
  cmd->add_option("--coordinator", a->coordinator, "Coordinator host:port")->required();
  cmd->add_option("--work-dir", a->work_dir,
                  "Agent's private directory (default: <state-dir>/nodes/join-<name>)");
  cmd->add_option("--node-name", a->node_name, "Name shown by `skein nodes` (default: hostname)");
  cmd->add_option("--cpus", a->cpus, "CPUs offered to jobs (default: all)");
  cmd->add_option("--memory", a->memory, "Memory offered to jobs, e.g. 8G (default: all)");
  cmd->add_option("--labels", a->labels, "Placement labels k=v[,k=v...]");
  cmd->add_flag("--foreground", a->foreground,
                "Run the agent in this terminal instead of in the background");
  cmd->add_option("--ready-timeout-ms", a->ready_timeout_ms, "Wait this long for registration")
      ->capture_default_str();
  cmd->callback([&ctx, a] { ctx.exit_code = run_join(ctx, *a); });
}

}  // namespace skein::cli
