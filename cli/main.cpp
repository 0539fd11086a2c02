// skein: the user's entry point to a Skein cluster (DESIGN.md section 1).
// Registers the global options and one subcommand per verb; nothing else.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <string>

#include "commands/commands.hpp"
#include "skein/common/version.hpp"

int main(int argc, char** argv) {
  // Writes to a closed pipe (`skein logs 7 | head`) end the command quietly.
  std::signal(SIGPIPE, SIG_DFL);
  skein::cli::CommandContext ctx;
  CLI::App app{
      "skein: start a Skein cluster, submit job binaries, follow them and watch every "
      "node's scheduler.\n\nTypical session:\n  skein up --nodes 3\n  skein submit "
      "--wait ./build/examples/fib -- 30\n  skein stats --watch\n  skein down"};
  app.require_subcommand(1);
  app.fallthrough();
  app.option_defaults()->always_capture_default();
  auto& o = ctx.opts;
  app.add_option("--state-dir", o.state_dir,
                 "Where `skein up` keeps the token, pidfiles and logs (default: $SKEIN_STATE_DIR "
                 "or ~/.skein)");
  app.add_option(
      "--coordinator", o.coordinator,
      "Coordinator host:port (default: $SKEIN_COORDINATOR or <state-dir>/coordinator.addr)");
  app.add_option("--token-file", o.token_file,
                 "Cluster token file (default: $SKEIN_TOKEN_FILE or <state-dir>/token)");
  app.add_option("--timeout-ms", o.timeout_ms, "Deadline of each request to the coordinator");
  app.add_option(
      "--config", o.config,
      "Config file with cluster contexts (default: $SKEIN_CONFIG or <state-dir>/config)");
  app.add_option("--tls-ca", o.tls_ca,
                 "With --coordinator: CA certificate (PEM) of a TLS coordinator");
  app.add_option("--tls-cert", o.tls_cert, "With --coordinator: client certificate (PEM)");
  app.add_option("--tls-key", o.tls_key, "With --coordinator: client key (PEM)");
  app.set_version_flag("--version", std::string("skein ") + skein::kVersion);

  skein::cli::add_up(app, ctx);
  skein::cli::add_down(app, ctx);
  skein::cli::add_join(app, ctx);
  skein::cli::add_submit(app, ctx);
  skein::cli::add_jobs(app, ctx);
  skein::cli::add_status(app, ctx);
  skein::cli::add_logs(app, ctx);
  skein::cli::add_cancel(app, ctx);
  skein::cli::add_nodes(app, ctx);
  skein::cli::add_stats(app, ctx);
  skein::cli::add_token(app, ctx);
  skein::cli::add_user(app, ctx);
  skein::cli::add_config(app, ctx);

  // Name an unknown verb as such (CLI11 alone says only "A subcommand is
  // required"): the first word that is neither an option nor its value.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("-", 0) == 0) {
      const CLI::Option* opt = app.get_option_no_throw(arg.substr(0, arg.find('=')));
      if (opt != nullptr && opt->get_type_size() != 0 && arg.find('=') == std::string::npos) {
        ++i;  // its value
      }
      continue;
    }
    std::string verbs;
    bool known = false;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      verbs += (verbs.empty() ? "" : ", ") + sub->get_name();
      known = known || sub->check_name(arg);
    }
    if (!known) {
      std::fprintf(stderr, "skein: unknown command '%s' (commands: %s; see skein --help)\n",
                   arg.c_str(), verbs.c_str());
      return skein::cli::kExitUsage;
    }
    break;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : skein::cli::kExitUsage;
  }
  return ctx.exit_code;
}
