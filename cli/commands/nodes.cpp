// skein nodes: cluster membership.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "table.hpp"

namespace skein::cli {
namespace {

int run_nodes(const CommandContext& ctx, bool all) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("nodes", client.status());
  }
  skein::v1::ListNodesRequest req;
  req.set_include_dead(all);
  skein::v1::ListNodesResponse resp;
  auto rpc = client->unary_context();
  grpc::Status st = client->stub().ListNodes(rpc.get(), req, &resp);
  if (!st.ok()) {
    return fail("nodes", client->explain(st));
  }
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  Table t({{"NODE"},
           {"NAME"},
           {"STATE"},
           {"EPOCH", true},
           {"CPUS", true},
           {"MEMORY", true},
           {"LABELS"},
           {"LAST SEEN", true}});
  for (const auto& n : resp.nodes()) {
    std::string labels;
    for (const auto& [k, v] : n.resources().labels()) {
      absl::StrAppend(&labels, labels.empty() ? "" : ",", k, "=", v);
    }
    std::string state = n.state() == skein::v1::NODE_STATE_ALIVE ? "alive" : "dead";
    if (!n.dead_reason().empty()) {
      absl::StrAppend(&state, " (", n.dead_reason(), ")");
    }
    t.add_row({n.node_id(), n.hostname(), state, std::to_string(n.epoch()),
               std::to_string(n.resources().cpus()), human_bytes(n.resources().memory_bytes()),
               labels.empty() ? "-" : labels,
               n.last_heartbeat_unix_ms() > 0
                   ? human_duration_ms(now - n.last_heartbeat_unix_ms()) + " ago"
                   : "-"});
  }
  if (t.rows() == 0) {
    std::printf("no nodes\n");
    return kExitOk;
  }
  std::fputs(t.render().c_str(), stdout);
  return kExitOk;
}

int run_remove(const CommandContext& ctx, const std::string& node) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("nodes remove", client.status());
  }
  skein::v1::RemoveNodeRequest req;
  req.set_node(node);
  skein::v1::RemoveNodeResponse resp;
  auto rpc = client->unary_context();
  if (grpc::Status st = client->stub().RemoveNode(rpc.get(), req, &resp); !st.ok()) {
    return fail("nodes remove", client->explain(st));
  }
  std::printf("node %s removed", node.c_str());
  if (resp.revoked_serials_size() > 0) {
    std::printf("; %d certificate(s) of '%s' revoked: it is refused from now on",
                resp.revoked_serials_size(), resp.identity().c_str());
  }
  std::printf("\n");
  return kExitOk;
}

}  // namespace

void add_nodes(CLI::App& app, CommandContext& ctx) {
  auto all = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "nodes",
      "List the cluster's nodes: id, state, resources, last heartbeat. `skein nodes "
      "remove NODE` (admin) declares a node dead and revokes its certificate.");
  cmd->add_flag("--all,-a", *all, "Include nodes declared dead");
  cmd->callback([&ctx, all, cmd] {
    if (cmd->get_subcommands().empty()) {
      ctx.exit_code = run_nodes(ctx, *all);
    }
  });
  auto node = std::make_shared<std::string>();
  auto* rm = cmd->add_subcommand("remove", "Declare NODE dead and revoke its certificate");
  rm->add_option("NODE", *node, "Node id (node-3) or its name")->required();
  rm->callback([&ctx, node] { ctx.exit_code = run_remove(ctx, *node); });
}

}  // namespace skein::cli
