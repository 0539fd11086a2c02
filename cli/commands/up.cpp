// skein up: a cluster's coordinator (and N local agents) in the background.
//
//   skein up                               loopback only: 127.0.0.1:7700, the
//                                          admin token, N local agents
//   skein up --listen 10.0.0.1 [--advertise name]...
//                                          serve other hosts: mutual TLS with
//                                          the cluster CA the coordinator
//                                          makes in <state>/coordinator/pki
//
// Every daemon's pid is recorded in <state>/pids/. Creates the 0600 admin
// token on first use, writes the CLI context (<state>/config), and in TLS
// mode an admin certificate for this CLI and a join token, printing the exact
// `skein join` command for other hosts. Local agents of a TLS cluster join
// with that token like any other host. Returns once every agent registered.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "config_file.hpp"
#include "credential.hpp"
#include "launcher.hpp"
#include "skein/common/bind_policy.hpp"
#include "skein/common/token.hpp"

namespace skein::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct UpArgs {
  std::string listen = "127.0.0.1:7700";
  std::vector<std::string> advertise;
  bool tls = false;
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
  auto listen_hp =
      split_host_port(a.listen.find(':') == std::string::npos ? join_address(a.listen) : a.listen);
  if (!listen_hp.ok()) {
    return fail("up", listen_hp.status());
  }
  const bool tls = a.tls || !is_loopback_host(listen_hp->host);
  const std::string listen = join_address(a.listen);
  coord.args = {"--listen",     listen,     "--data-dir",   (state / "coordinator").string(),
                "--token-file", token_file, "--ready-file", addr_file};
  for (const auto& adv : a.advertise) {
    coord.args.insert(coord.args.end(), {"--advertise", adv});
  }
  if (a.tls) {
    coord.args.push_back("--tls");
  }
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

  // Where this host dials its own coordinator: the bound address, or
  // loopback for a wildcard bind (the server certificate names 127.0.0.1).
  std::string dial = *address;
  if (auto hp = split_host_port(*address); hp.ok() && (hp->host == "0.0.0.0" || hp->host == "::")) {
    dial = absl::StrCat("127.0.0.1:", hp->port);
  }
  const std::string ca_file = (state / "coordinator" / "pki" / "ca.crt").string();
  GlobalOptions opts = ctx.opts;
  opts.coordinator = dial;
  opts.token_file = token_file;
  if (tls) {
    opts.tls_ca = ca_file;
  }
  auto client = Client::connect(opts);
  if (!client.ok()) {
    stop_started(started);
    return fail("up", client.status());
  }
  // The CLI's context: in TLS mode an admin certificate made for this CLI
  // (the admin token stays on this host), plus a join token for the agents.
  std::string server = dial;
  Context context{.server = server, .ca = "", .cert = "", .key = "", .role = "admin"};
  std::string join_token;
  std::string ca_hash;
  if (tls) {
    // An admin certificate for this CLI, signed over the admin-token
    // connection (the token itself stays in the state directory).
    auto admin = issue_credential(*client, "admin", "admin", std::chrono::seconds(0));
    if (!admin.ok()) {
      stop_started(started);
      return fail("up", admin.status());
    }
    context = *std::move(admin);
    context.server = server;
    skein::v1::CreateTokenRequest treq;
    treq.set_description("skein up");
    skein::v1::CreateTokenResponse tresp;
    auto rpc = client->unary_context();
    if (grpc::Status st = client->stub().CreateToken(rpc.get(), treq, &tresp); !st.ok()) {
      stop_started(started);
      return fail("up", client->explain(st));
    }
    join_token = tresp.token();
    ca_hash = tresp.ca_hash();
    // The coordinator's own view of where it is dialled: the first
    // --advertise address, with the bound port where it named none.
    if (tresp.addresses_size() > 0) {
      server = tresp.addresses(0);
      context.server = server;
    }
  }
  ConfigFile config;
  if (auto existing = ConfigFile::load(ctx.opts.resolved_config()); existing.ok()) {
    config = *std::move(existing);
  }
  const std::string context_name = tls ? absl::StrCat("admin@", server) : "local";
  config.contexts[context_name] = context;
  config.current = context_name;
  if (absl::Status s = config.save(ctx.opts.resolved_config()); !s.ok()) {
    stop_started(started);
    return fail("up", s);
  }

  std::set<std::string> names;
  for (int i = 1; i <= a.nodes; ++i) {
    // Agent names ("agent-1") differ from the node ids the coordinator assigns
    // ("node-7"): agents register in any order, and ids are never reused.
    const std::string name = absl::StrCat("agent-", i);
    names.insert(name);
    DaemonSpec node;
    node.exe = *node_bin;
    const auto work_dir = state / "nodes" / name;
    node.args = {"--coordinator", dial, "--work-dir", work_dir.string(), "--node-name", name};
    if (tls) {
      std::filesystem::create_directories(work_dir, ec);
      ::chmod(work_dir.c_str(), 0700);
      // A rerun keeps the node certificate of the last one.
      std::filesystem::remove_all(work_dir / "pki", ec);
      const std::string join_file = (work_dir / "join.token").string();
      if (absl::Status s = write_token_file(join_file, join_token); !s.ok()) {
        stop_started(started);
        return fail("up", s);
      }
      node.args.insert(node.args.end(),
                       {"--bootstrap-token-file", join_file, "--ca-hash", ca_hash});
    } else {
      node.args.insert(node.args.end(), {"--token-file", token_file});
    }
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
  std::printf("cluster up: coordinator %s (%s), %d node%s ready in %lld ms (state in %s)\n",
              server.c_str(), tls ? "mutual TLS" : "loopback", a.nodes, a.nodes == 1 ? "" : "s",
              static_cast<long long>(ms), state.c_str());
  if (tls) {
    std::printf(
        "CLI context %s (admin certificate) written to %s\n\nTo add a host, run there (the "
        "token is valid 24 h; `skein token create` makes more):\n\n  skein join %s --token %s "
        "--ca-hash %s\n",
        context_name.c_str(), ctx.opts.resolved_config().c_str(), server.c_str(),
        join_token.c_str(), ca_hash.c_str());
  }
  return kExitOk;
}

}  // namespace

void add_up(CLI::App& app, CommandContext& ctx) {
  auto args = std::make_shared<UpArgs>();
  auto* cmd = app.add_subcommand(
      "up",
      "Start a cluster in the background: a coordinator and N local node agents. Loopback by "
      "default (127.0.0.1:7700); with --listen ADDR other hosts can join over mutual TLS, and the "
      "exact `skein join` command for them is printed. Waits until every local node has "
      "registered.");
  cmd->add_option("--listen", args->listen,
                  "Address[:port] the coordinator serves on (port 7700 if omitted; 0 picks a free "
                  "one). Off loopback: mutual TLS, always")
      ->capture_default_str();
  cmd->add_option("--advertise", args->advertise,
                  "Address other hosts dial, if not the --listen one (repeatable; goes into the "
                  "coordinator's certificate)");
  cmd->add_flag("--tls", args->tls, "Use TLS and join tokens even on a loopback --listen");
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
