// skein up: a whole cluster on this machine, in the background.
//
// Starts skein-coordinator on 127.0.0.1 with an ephemeral port and N
// skein-node agents pointed at it, all as daemons whose pids are recorded in
// <state>/pids/. Creates the 0600 cluster token on first use. Returns once the
// coordinator serves and every agent has registered, printing the address.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "launcher.hpp"
#include "skein/common/token.hpp"

namespace skein::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct UpArgs {
  int nodes = 3;
  int ready_timeout_ms = 15000;
  int heartbeat_ms = 0;  // 0 = coordinator default
  int miss_limit = 0;
  std::vector<std::string> coordinator_flags;
  std::vector<std::string> node_flags;
};

bool any_running(const std::string& pids_dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(pids_dir, ec)) {
    auto rec = read_pidfile(e.path().string());
    if (rec.ok() && is_running(*rec)) {
      return true;
    }
  }
  return false;
}

void stop_started(const std::vector<std::pair<PidRecord, std::string>>& started) {
  for (auto it = started.rbegin(); it != started.rend(); ++it) {
    [[maybe_unused]] absl::Status s = stop_process(it->first, std::chrono::milliseconds(2000));
    std::filesystem::remove(it->second);
  }
}

int run_up(const CommandContext& ctx, const UpArgs& a) {
  const auto began = Clock::now();
  const std::int64_t began_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
  if (a.nodes < 0) {
    return fail("up", absl::InvalidArgumentError("--nodes must be >= 0"));
  }
  const std::filesystem::path state = ctx.opts.resolved_state_dir();
  const auto pids = state / "pids";
  const auto logs = state / "logs";
  std::error_code ec;
  for (const auto& d : {state, pids, logs, state / "nodes"}) {
    std::filesystem::create_directories(d, ec);
    if (ec) {
      return fail("up", absl::FailedPreconditionError(
                            absl::StrCat("cannot create ", d.string(), ": ", ec.message())));
    }
  }
  ::chmod(state.c_str(), 0700);
  if (any_running(pids.string())) {
    return fail("up", absl::AlreadyExistsError(absl::StrCat(
                          "a cluster started from ", state.string(),
                          " is still running; `skein down` first (or use another --state-dir)")));
  }
  auto coordinator_bin = find_binary("skein-coordinator");
  auto node_bin = find_binary("skein-node");
  if (!coordinator_bin.ok()) {
    return fail("up", coordinator_bin.status());
  }
  if (!node_bin.ok()) {
    return fail("up", node_bin.status());
  }

  // Token: created once per state directory, mode 0600, never printed.
  const std::string token_file = (state / "token").string();
  if (!std::filesystem::exists(token_file)) {
    auto token = generate_token();
    if (!token.ok()) {
      return fail("up", token.status());
    }
    if (absl::Status s = write_token_file(token_file, *token); !s.ok()) {
      return fail("up", s);
    }
  }

  const std::string addr_file = (state / "coordinator.addr").string();
  std::filesystem::remove(addr_file, ec);
  DaemonSpec coord;
  coord.exe = *coordinator_bin;
  coord.args = {"--listen",     "127.0.0.1:0", "--data-dir",   (state / "coordinator").string(),
                "--token-file", token_file,    "--ready-file", addr_file};
  if (a.heartbeat_ms > 0) {
    coord.args.insert(coord.args.end(), {"--heartbeat-ms", std::to_string(a.heartbeat_ms)});
  }
  if (a.miss_limit > 0) {
    coord.args.insert(coord.args.end(), {"--miss-limit", std::to_string(a.miss_limit)});
  }
  coord.args.insert(coord.args.end(), a.coordinator_flags.begin(), a.coordinator_flags.end());
  coord.log_file = (logs / "coordinator.log").string();
  coord.pid_file = (pids / "coordinator.pid").string();

  std::vector<std::pair<PidRecord, std::string>> started;
  auto crec = start_daemon(coord);
  if (!crec.ok()) {
    return fail("up", crec.status());
  }
  started.emplace_back(*crec, coord.pid_file);
  const auto timeout = std::chrono::milliseconds(a.ready_timeout_ms);
  auto address = wait_for_file(addr_file, timeout, crec->pid);
  if (!address.ok()) {
    stop_started(started);
    return fail("up", absl::UnavailableError(absl::StrCat(
                          "skein-coordinator did not start: ", address.status().message(), "\n",
                          tail_file(coord.log_file, 10))));
  }

  std::set<std::string> names;
  for (int i = 1; i <= a.nodes; ++i) {
    // Agent names ("agent-1") differ from the node ids the coordinator assigns
    // ("node-7"): agents register in any order, and ids are never reused.
    const std::string name = absl::StrCat("agent-", i);
    names.insert(name);
    DaemonSpec node;
    node.exe = *node_bin;
    node.args = {"--coordinator", *address,     "--token-file",
                 token_file,      "--work-dir", (state / "nodes" / name).string(),
                 "--node-name",   name};
    if (a.heartbeat_ms > 0) {
      node.args.insert(node.args.end(), {"--heartbeat-ms", std::to_string(a.heartbeat_ms)});
    }
    node.args.insert(node.args.end(), a.node_flags.begin(), a.node_flags.end());
    node.log_file = (logs / (name + ".log")).string();
    node.pid_file = (pids / (name + ".pid")).string();
    auto nrec = start_daemon(node);
    if (!nrec.ok()) {
      stop_started(started);
      return fail("up", nrec.status());
    }
    started.emplace_back(*nrec, node.pid_file);
  }

  // Ready = every agent we started is registered and alive.
  GlobalOptions opts = ctx.opts;
  opts.coordinator = *address;
  opts.token_file = token_file;
  auto client = Client::connect(opts);
  if (!client.ok()) {
    stop_started(started);
    return fail("up", client.status());
  }
  const auto deadline = Clock::now() + timeout;
  int alive = 0;
  absl::Status last = absl::OkStatus();
  while (true) {
    skein::v1::ListNodesRequest req;
    skein::v1::ListNodesResponse resp;
    auto rpc = client->unary_context();
    grpc::Status st = client->stub().ListNodes(rpc.get(), req, &resp);
    if (st.ok()) {
      alive = 0;
      for (const auto& n : resp.nodes()) {
        // Only registrations of this run count (a journal may hold older ones).
        if (n.state() == skein::v1::NODE_STATE_ALIVE && names.count(n.hostname()) &&
            n.registered_unix_ms() >= began_unix_ms) {
          ++alive;
        }
      }
      if (alive >= a.nodes) {
        break;
      }
    } else {
      last = client->explain(st);
    }
    for (std::size_t i = 1; i < started.size(); ++i) {
      if (!is_running(started[i].first)) {
        const std::string name = absl::StrCat("agent-", i);
        const std::string log = (logs / (name + ".log")).string();
        stop_started(started);
        return fail("up", absl::UnavailableError(
                              absl::StrCat("skein-node ", name, " exited:\n", tail_file(log, 10))));
      }
    }
    if (Clock::now() >= deadline) {
      stop_started(started);
      return fail("up", absl::DeadlineExceededError(absl::StrCat(
                            "only ", alive, " of ", a.nodes, " nodes registered within ",
                            a.ready_timeout_ms, " ms", last.ok() ? "" : "; ",
                            last.ok() ? "" : std::string(last.message()))));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began).count();
  std::printf("cluster up: coordinator %s, %d node%s ready in %lld ms (state in %s)\n",
              address->c_str(), a.nodes, a.nodes == 1 ? "" : "s", static_cast<long long>(ms),
              state.c_str());
  return kExitOk;
}

}  // namespace

void add_up(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<UpArgs>();
  auto* cmd = app.add_subcommand(
      "up",
      "Start a local cluster in the background: a coordinator on 127.0.0.1 (ephemeral port) and N "
      "node agents. Creates the cluster token (mode 0600) in the state directory and waits until "
      "every node has registered.");
  cmd->add_option("--nodes,-n", args->nodes, "Number of node agents to start")
      ->capture_default_str();
  cmd->add_option("--ready-timeout-ms", args->ready_timeout_ms,
                  "Give up if the cluster is not ready within this time")
      ->capture_default_str();
  cmd->add_option("--heartbeat-ms", args->heartbeat_ms,
                  "Heartbeat period for the coordinator and agents (default: coordinator's)");
  cmd->add_option("--miss-limit", args->miss_limit,
                  "Missed heartbeats before a node is declared dead (default: coordinator's)");
  cmd->add_option("--coordinator-flag", args->coordinator_flags,
                  "Extra flag passed to skein-coordinator (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--node-flag", args->node_flags,
                  "Extra flag passed to every skein-node (repeatable)")
      ->allow_extra_args(false);
  cmd->callback([&ctx, args] { ctx.exit_code = run_up(ctx, *args); });
}

}  // namespace skein::cli
