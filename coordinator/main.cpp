// skein-coordinator: flags -> CoordinatorConfig -> Coordinator. Nothing else.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "coordinator.hpp"
#include "skein/common/log.hpp"
#include "skein/common/token.hpp"
#include "skein/common/version.hpp"

namespace {

std::string default_data_dir() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.skein/coordinator";
}

}  // namespace

int main(int argc, char** argv) {
  using skein::coordinator::Coordinator;
  using skein::coordinator::CoordinatorConfig;

  CLI::App app{
      "skein-coordinator: membership, jobs, binaries and stats of a Skein cluster.\n\n"
      "On a loopback --listen it takes the admin token only (a single-user local cluster). On any "
      "other address it serves mutual TLS with the cluster CA it makes in <data-dir>/pki on first "
      "start; hosts join with `skein join` and a token from `skein token create`."};
  app.set_version_flag("--version", std::string("skein-coordinator ") + skein::kVersion);
  app.set_config("--config", "", "Read options from this TOML file (keys are the long flag names)");
  CoordinatorConfig cfg;
  std::string token_file;
  std::string log_level = "info";
  int heartbeat_ms = 1000;
  int miss_limit = 5;
  uint64_t max_binary_mb = 512;
  uint64_t max_log_mb = 64;
  uint32_t cancel_grace_ms = 5000;
  int recovery_window_ms = 30000;
  cfg.cluster.data_dir = default_data_dir();

  cfg.listen = "127.0.0.1:7700";
  app.add_option("--listen", cfg.listen,
                 "host:port to serve on (7700 is Skein's port; 0 picks a free one). Off loopback "
                 "the listener is always mutual TLS")
      ->capture_default_str();
  app.add_option("--advertise", cfg.advertise,
                 "Address other hosts dial (repeatable): put in the coordinator's certificate and "
                 "in the join command (default: the --listen host)");
  app.add_flag("--tls", cfg.tls, "Serve TLS and accept joins on a loopback --listen too");
  std::int64_t node_cert_seconds = 30 * 86400;
  app.add_option("--node-cert-validity", node_cert_seconds,
                 "Lifetime of node certificates, e.g. 30d or 12h; agents renew them at 2/3")
      ->transform(CLI::AsNumberWithUnit(
          std::map<std::string, std::int64_t>{{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}},
          CLI::AsNumberWithUnit::CASE_SENSITIVE))
      ->check(CLI::Range(std::int64_t{3}, std::int64_t{3650} * 86400))
      ->default_str("30d");
  app.add_option("--port-file,--ready-file", cfg.port_file,
                 "write the bound host:port here (atomically) once serving");
  std::string state_dir;
  auto* data_dir_opt =
      app.add_option("--data-dir", cfg.cluster.data_dir, "journal, binaries and logs live here")
          ->capture_default_str();
  app.add_option("--state-dir", state_dir,
                 "cluster state directory; the data dir defaults to <state-dir>/coordinator");
  app.add_option("--token-file", token_file,
                 "file (mode 0600) holding the admin token, made if missing (default: "
                 "<data-dir>/admin.token); never pass the token itself");
  app.add_option("--heartbeat-ms", heartbeat_ms, "agents heartbeat this often")
      ->check(CLI::Range(5, 600000))
      ->capture_default_str();
  app.add_option("--miss-limit", miss_limit,
                 "a node missing this many heartbeats in a row is declared dead")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--max-binary-mb", max_binary_mb, "largest job binary accepted, MiB")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-log-mb", max_log_mb, "log bytes kept per job, MiB")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--cancel-grace-ms", cancel_grace_ms,
                 "SIGTERM -> SIGKILL grace agents apply when a job is cancelled")
      ->capture_default_str();
  app.add_option("--recovery-window-ms", recovery_window_ms,
                 "after a restart, agents may reconnect this long and keep their jobs; "
                 "0 = fail every in-flight job at once")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as the CLI does.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (!state_dir.empty() && data_dir_opt->count() == 0) {
    cfg.cluster.data_dir = state_dir + "/coordinator";
  }
  skein::set_log_level(log_level);
  auto log = skein::logger("coordinator");
  cfg.cluster.membership.heartbeat_period = std::chrono::milliseconds(heartbeat_ms);
  cfg.cluster.membership.miss_limit = miss_limit;
  cfg.cluster.max_binary_bytes = max_binary_mb << 20;
  cfg.cluster.max_log_bytes_per_job = max_log_mb << 20;
  cfg.cluster.cancel_grace_ms = cancel_grace_ms;
  cfg.cluster.recovery_window = std::chrono::milliseconds(recovery_window_ms);
  cfg.node_cert_validity = std::chrono::seconds(node_cert_seconds);

  if (token_file.empty()) {
    token_file = cfg.cluster.data_dir + "/admin.token";
    std::error_code ec;
    std::filesystem::create_directories(cfg.cluster.data_dir, ec);
    if (!std::filesystem::exists(token_file)) {
      auto fresh = skein::generate_token();
      absl::Status written =
          fresh.ok() ? skein::write_token_file(token_file, *fresh) : fresh.status();
      if (!written.ok()) {
        std::fprintf(stderr, "skein-coordinator: admin token %s: %s\n", token_file.c_str(),
                     std::string(written.message()).c_str());
        return 1;
      }
    }
  }
  auto token = skein::load_token(token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "skein-coordinator: admin token %s: %s\n", token_file.c_str(),
                 std::string(token.status().message()).c_str());
    return 1;
  }

  // Signals are taken by one thread with sigtimedwait, so they must be
  // blocked before gRPC starts its threads (they inherit the mask).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto coordinator = Coordinator::start(cfg, *std::move(token));
  if (!coordinator.ok()) {
    std::fprintf(stderr, "skein-coordinator: %s\n",
                 std::string(coordinator.status().message()).c_str());
    return 1;
  }
  Coordinator* c = coordinator->get();
  std::atomic<bool> done{false};
  std::thread signals([&] {
    timespec poll{0, 200 * 1000 * 1000};
    while (!done.load()) {
      int sig = sigtimedwait(&sigs, nullptr, &poll);
      if (sig > 0) {
        log->info("signal {} received, shutting down", sig);
        c->request_shutdown();
        return;
      }
    }
  });
  c->wait();
  done.store(true);
  signals.join();
  c->stop();
  return 0;
}
