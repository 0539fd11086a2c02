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
  std::string worker_memory;
  auto& lim = config.worker_limits;
  app.add_option(
      "--worker-memory", worker_memory,
      "Memory limit per job's workers (cgroup, where writable), e.g. 2G (default: none)");
  app.add_option("--worker-max-pids", lim.max_pids,
                 "Process limit per job (pids cgroup, where writable; 0 = none)")
      ->capture_default_str();
  app.add_option("--worker-cpu-seconds", lim.cpu_seconds,
                 "RLIMIT_CPU backstop per worker process in CPU seconds (0 = none)")
      ->capture_default_str();
  app.add_option("--worker-max-open-files", lim.max_open_files, "RLIMIT_NOFILE per worker")
      ->capture_default_str();
  app.add_option("--worker-max-file-size", lim.max_file_size_bytes,
                 "RLIMIT_FSIZE per worker in bytes")
      ->capture_default_str();
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
  // "512M" -> bytes; -1 on a malformed size.
  auto parse_size = [](const std::string& text, const char* flag) -> std::int64_t {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    const std::string unit = end != nullptr ? std::string(end) : "";
    double mult = 1;
    if (unit == "K" || unit == "k") {
      mult = 1024;
    } else if (unit == "M" || unit == "m") {
      mult = 1024.0 * 1024;
    } else if (unit == "G" || unit == "g") {
      mult = 1024.0 * 1024 * 1024;
    } else if (!unit.empty()) {
      std::fprintf(stderr, "skein-node: %s: unknown unit '%s' (use K, M or G)\n", flag,
                   unit.c_str());
      return -1;
    }
    if (v <= 0) {
      std::fprintf(stderr, "skein-node: %s must be positive\n", flag);
      return -1;
    }
    return static_cast<std::int64_t>(v * mult);
  };
  if (!memory.empty()) {
    config.memory_bytes = parse_size(memory, "--memory");
    if (config.memory_bytes < 0) {
      return 2;
    }
  }
  if (!worker_memory.empty()) {
    const std::int64_t bytes = parse_size(worker_memory, "--worker-memory");
    if (bytes < 0) {
      return 2;
    }
    lim.memory_bytes = static_cast<std::uint64_t>(bytes);
  }

  skein::node::NodeAgent agent(std::move(config));
  absl::Status s = agent.run();
  if (!s.ok()) {
    std::fprintf(stderr, "skein-node: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
