// skein-coordinator: flags -> CoordinatorConfig -> Coordinator. Nothing else.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "coordinator.hpp"
#include "skein/common/log.hpp"
#include "skein/common/token.hpp"

namespace {

std::string default_data_dir() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.skein/coordinator";
}

}  // namespace

int main(int argc, char** argv) {
  using skein::coordinator::Coordinator;
  using skein::coordinator::CoordinatorConfig;

  CLI::App app{"skein-coordinator: membership, jobs, binaries and stats of a Skein cluster"};
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

  app.add_option("--listen", cfg.listen, "host:port to serve on; port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--port-file,--ready-file", cfg.port_file,
                 "write the bound host:port here (atomically) once serving");
  std::string state_dir;
  auto* data_dir_opt =
      app.add_option("--data-dir", cfg.cluster.data_dir, "journal, binaries and logs live here")
          ->capture_default_str();
  app.add_option("--state-dir", state_dir,
                 "cluster state directory; the data dir defaults to <state-dir>/coordinator");
  app.add_option("--token-file", token_file,
                 "file (mode 0600) holding the cluster token; never pass the token itself")
      ->required();
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
  app.add_flag("--insecure", cfg.insecure,
               "allow plaintext on a non-loopback --listen (the token is still required)");
  app.add_option("--tls-cert", cfg.tls.cert_file, "PEM server certificate (enables TLS)");
  app.add_option("--tls-key", cfg.tls.key_file, "PEM private key of --tls-cert");
  app.add_option("--tls-ca", cfg.tls.ca_file, "PEM CA: require and verify client certs (mTLS)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

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

  auto token = skein::load_token(token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "skein-coordinator: %s\n", std::string(token.status().message()).c_str());
    return 2;
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
