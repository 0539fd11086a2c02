// Cluster context of the running program: whether a node agent launched it,
// and which job it belongs to.
//
// The node agent launches a job's worker with SKEIN_AGENT_SOCKET (the agent's
// Unix socket) and SKEIN_JOB_ID in its environment, and with nothing
// secret: the cluster token never reaches a worker. Both must be present and
// well-formed for cluster mode; otherwise the program is a plain local one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace skein::cluster {

struct WorkerContext {
  std::uint64_t job_id = 0;
  std::string agent_socket;
  std::string node_id;  // informational; may be empty
  bool driver = true;   // runs main(); false: a task worker (SKEIN_WORKER_ROLE=task)
};

// The context from the environment, or nullopt when run directly.
std::optional<WorkerContext> context_from_env();

// True while skein::run runs in cluster mode and is connected to its agent.
bool connected_to_agent();

// The id of the node this process runs on ("node-2"), or "local" when the
// program runs outside a cluster. A remote task can report where it ran.
std::string node_id();

}  // namespace skein::cluster
