#include "skein/cluster.hpp"

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "absl/strings/numbers.h"

namespace skein::cluster {

std::optional<WorkerContext> context_from_env() {
  const char* socket = std::getenv("SKEIN_AGENT_SOCKET");
  const char* job = std::getenv("SKEIN_JOB_ID");
  if (socket == nullptr || job == nullptr || *socket == '\0') {
    return std::nullopt;
  }
  WorkerContext ctx;
  if (!absl::SimpleAtoi(job, &ctx.job_id) || ctx.job_id == 0) {
    return std::nullopt;
  }
  ctx.agent_socket = socket;
  if (const char* node = std::getenv("SKEIN_NODE_ID")) {
    ctx.node_id = node;
  }
  if (const char* role = std::getenv("SKEIN_WORKER_ROLE")) {
    ctx.driver = std::string_view(role) != "task";
  }
  return ctx;
}

std::string node_id() {
  const char* node = std::getenv("SKEIN_NODE_ID");
  return node != nullptr && *node != '\0' && std::getenv("SKEIN_AGENT_SOCKET") != nullptr
             ? std::string(node)
             : std::string("local");
}

}  // namespace skein::cluster
