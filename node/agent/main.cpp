// skein-node: flags -> AgentConfig -> NodeAgent::run(). Nothing else.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "agent/node_agent.hpp"
#include "skein/common/log.hpp"

int main(int argc, char** argv) {
  skein::node::AgentConfig config;
  CLI::App app{
      "skein-node: the Skein node agent. Registers with a coordinator, fetches and "
      "verifies job binaries, runs and supervises their worker processes."};
  std::string labels;
  std::string memory;
  int heartbeat_ms = 0;
  std::string log_level = "info";
  app.add_option("--coordinator", config.coordinator, "Coordinator address host:port")
      ->capture_default_str();
  app.add_option("--token-file", config.token_file,
                 "File holding the cluster token (mode 0600); never pass the token itself")
      ->required();
  app.add_option("--work-dir", config.work_dir,
                 "Private state: binary cache, job logs, worker socket")
      ->required();
  app.add_option("--node-name", config.node_name,
                 "Name reported to the coordinator (default: hostname)");
  app.add_option("--cpus", config.cpus, "CPUs offered to jobs (default: hardware threads)");
  app.add_option("--memory", memory, "Memory offered to jobs, e.g. 4G or 512M (default: MemTotal)");
  app.add_option("--labels", labels, "Placement labels, k=v[,k=v...]");
  app.add_option("--heartbeat-ms", heartbeat_ms,
                 "Heartbeat period in ms (default: the coordinator's; never longer)");
  app.add_option("--tls-ca", config.tls.ca_file, "CA certificate (PEM) to verify the coordinator");
  app.add_option("--tls-cert", config.tls.cert_file, "Client certificate (PEM) for mTLS");
  app.add_option("--tls-key", config.tls.key_file, "Client key (PEM) for mTLS");
  app.add_flag("--insecure", config.insecure,
               "Allow plaintext to a non-loopback coordinator (not recommended)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  skein::set_log_level(log_level);
  config.heartbeat = std::chrono::milliseconds(heartbeat_ms);
  if (!labels.empty()) {
    for (const std::string& kv :
         std::vector<std::string>(absl::StrSplit(labels, ',', absl::SkipEmpty()))) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "skein-node: --labels: expected k=v, got '%s'\n", kv.c_str());
        return 2;
      }
      config.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  if (!memory.empty()) {
    char* end = nullptr;
    double v = std::strtod(memory.c_str(), &end);
    std::string unit = end ? std::string(end) : "";
    double mult = 1;
    if (unit == "K" || unit == "k") {
      mult = 1024;
    } else if (unit == "M" || unit == "m") {
      mult = 1024.0 * 1024;
    } else if (unit == "G" || unit == "g") {
      mult = 1024.0 * 1024 * 1024;
    } else if (!unit.empty()) {
      std::fprintf(stderr, "skein-node: --memory: unknown unit '%s' (use K, M or G)\n",
                   unit.c_str());
      return 2;
    }
    if (v <= 0) {
      std::fprintf(stderr, "skein-node: --memory must be positive\n");
      return 2;
    }
    config.memory_bytes = static_cast<std::int64_t>(v * mult);
  }

  skein::node::NodeAgent agent(std::move(config));
  absl::Status s = agent.run();
  if (!s.ok()) {
    std::fprintf(stderr, "skein-node: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
