// skein-node: flags -> AgentConfig -> NodeAgent::run(). Nothing else.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "agent/node_agent.hpp"
#include "skein/common/log.hpp"
#include "skein/common/version.hpp"

int main(int argc, char** argv) {
  skein::node::AgentConfig config;
  CLI::App app{
      "skein-node: the Skein node agent. Registers with a coordinator, fetches and verifies job "
      "binaries, runs and supervises their worker processes.\n\n"
      "Credentials: on a new host pass --bootstrap-token-file and --ca-hash once (`skein join` "
      "does); the agent keeps its node certificate in <work-dir>/pki. A loopback cluster's "
      "agents may use the admin --token-file instead."};
  app.set_version_flag("--version", std::string("skein-node ") + skein::kVersion);
  app.set_config("--config", "", "Read options from this TOML file (keys are the long flag names)");
  std::string labels;
  int heartbeat_ms = 0;
  std::string log_level = "info";
  app.add_option("--coordinator", config.coordinator,
                 "Coordinator address host:port (7700 is Skein's port)")
      ->envname("SKEIN_COORDINATOR")
      ->capture_default_str();
  app.add_option("--work-dir", config.work_dir,
                 "Private state: node credentials, binary cache, job logs, worker socket")
      ->required();
  app.add_option("--bootstrap-token-file", config.bootstrap_token_file,
                 "File (mode 0600) holding a join token from `skein token create`; used once to "
                 "get this node's certificate");
  app.add_option("--ca-hash", config.ca_hash,
                 "sha256:<hex> pin of the cluster CA (printed with the join token)");
  app.add_option("--token-file", config.token_file,
                 "Admin token file of a loopback cluster (mode 0600); never pass a token itself");
  app.add_option("--node-name", config.node_name,
                 "Name of this node, put in its certificate (default: hostname)");
  app.add_option("--cpus", config.cpus, "CPUs offered to jobs (default: hardware threads)");
  app.add_option("--memory", config.memory_bytes,
                 "Memory offered to jobs, e.g. 4G or 512M (default: MemTotal)")
      ->transform(CLI::AsSizeValue(false));
  app.add_option("--labels", labels, "Placement labels, k=v[,k=v...]");
  app.add_option("--heartbeat-ms", heartbeat_ms,
                 "Heartbeat period in ms (default: the coordinator's; never longer)");
  app.add_option("--tls-ca", config.tls.ca_file, "CA certificate (PEM) to verify the coordinator");
  app.add_option("--tls-cert", config.tls.cert_file,
                 "Client certificate (PEM) made outside Skein (default: <work-dir>/pki)");
  app.add_option("--tls-key", config.tls.key_file, "Client key (PEM) of --tls-cert");
  auto& lim = config.worker_limits;
  app.add_option("--worker-memory", lim.memory_bytes,
                 "Memory limit per job's workers (cgroup, where writable), e.g. 2G (default: none)")
      ->transform(CLI::AsSizeValue(false));
  app.add_option("--worker-max-pids", lim.max_pids,
                 "Process limit per job (pids cgroup, where writable; 0 = none)")
      ->capture_default_str();
  app.add_option("--worker-cpu-seconds", lim.cpu_seconds,
                 "RLIMIT_CPU backstop per worker process in CPU seconds (0 = none)")
      ->capture_default_str();
  app.add_option("--worker-max-open-files", lim.max_open_files, "RLIMIT_NOFILE per worker")
      ->capture_default_str();
  app.add_option("--worker-max-file-size", lim.max_file_size_bytes,
                 "RLIMIT_FSIZE per worker, e.g. 1G")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as the CLI does.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (config.memory_bytes < 0) {
    std::fprintf(stderr, "skein-node: --memory must be positive\n");
    return 2;
  }
  if (!config.token_file.empty() && !config.bootstrap_token_file.empty()) {
    std::fprintf(stderr,
                 "skein-node: --token-file (loopback admin token) and --bootstrap-token-file "
                 "(join) exclude each other\n");
    return 2;
  }
  if (!config.bootstrap_token_file.empty() && config.ca_hash.empty()) {
    std::fprintf(stderr,
                 "skein-node: --bootstrap-token-file needs --ca-hash sha256:<hex> to pin the "
                 "coordinator's CA (printed by `skein token create`)\n");
    return 2;
  }

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

  skein::node::NodeAgent agent(std::move(config));
  absl::Status s = agent.run();
  if (!s.ok()) {
    std::fprintf(stderr, "skein-node: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
