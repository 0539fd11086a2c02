// skein stats [--watch] [--json]: every live node's scheduler, from the
// stats its job workers report about once a second (through their agent's
// heartbeats). Rates need two samples of a worker, so a one-shot call waits
// up to ~2.5 s for a second sample when jobs are running; --watch streams
// (WatchStats) and redraws the table every interval.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "client.hpp"
#include "commands/commands.hpp"
#include "stats_view.hpp"

namespace skein::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRateWait = std::chrono::milliseconds(2500);
constexpr auto kRatePoll = std::chrono::milliseconds(250);

struct StatsArgs {
  bool watch = false;
  bool json = false;
  int interval_ms = 1000;
  int count = 0;  // --watch: stop after this many updates (0 = until interrupted)
};

void emit(const StatsArgs& a, const std::vector<NodeRow>& rows, std::int64_t unix_ms, bool redraw) {
  if (a.json) {
    std::printf("%s\n", stats_json(rows, unix_ms).dump(a.watch ? -1 : 2).c_str());
  } else {
    const std::string table = render_stats_table(rows, unix_ms);
    if (redraw) {
      std::printf("\x1b[H\x1b[2J%s", table.c_str());  // home + clear, then one write
    } else {
      std::fputs(table.c_str(), stdout);
    }
  }
  std::fflush(stdout);
}

int run_stats(const CommandContext& ctx, const StatsArgs& a) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("stats", client.status());
  }
  StatsView view;
  if (!a.watch) {
    const auto deadline = Clock::now() + kRateWait;
    while (true) {
      skein::v1::GetStatsResponse resp;
      auto rpc = client->unary_context();
      grpc::Status st = client->stub().GetStats(rpc.get(), {}, &resp);
      if (!st.ok()) {
        return fail("stats", client->explain(st));
      }
      auto rows = view.update(resp);
      if (view.all_rated() || Clock::now() >= deadline) {
        emit(a, rows, resp.unix_ms(), false);
        return kExitOk;
      }
      std::this_thread::sleep_for(kRatePoll);
    }
  }
  grpc::ClientContext rpc;
  skein::v1::WatchStatsRequest req;
  req.set_interval_ms(static_cast<std::uint32_t>(a.interval_ms));
  auto reader = client->stub().WatchStats(&rpc, req);
  skein::v1::GetStatsResponse resp;
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  int n = 0;
  while (reader->Read(&resp)) {
    emit(a, view.update(resp), resp.unix_ms(), tty && !a.json);
    if (a.count > 0 && ++n >= a.count) {
      rpc.TryCancel();
      break;
    }
  }
  grpc::Status st = reader->Finish();
  if (!st.ok() && !(a.count > 0 && n >= a.count)) {
    return fail("stats", client->explain(st));
  }
  return kExitOk;
}

}  // namespace

void add_stats(CLI::App& app, CommandContext& ctx) {
  auto a = std::make_shared<StatsArgs>();
  auto* cmd = app.add_subcommand(
      "stats",
      "Per-node scheduler table: goroutines running/runnable/blocked, busy Ps, spawns/s, context "
      "switches/s, steals/s, run-queue depth, threads, node CPU and agent RSS.");
  cmd->add_flag("--watch,-w", a->watch, "Redraw every interval until interrupted");
  cmd->add_flag("--json", a->json,
                "Machine-readable output (one document; with --watch one JSON line per update)");
  cmd->add_option("--interval-ms", a->interval_ms, "Refresh interval for --watch")
      ->capture_default_str();
  cmd->add_option("--count", a->count, "With --watch: stop after this many updates");
  cmd->callback([&ctx, a] { ctx.exit_code = run_stats(ctx, *a); });
}

}  // namespace skein::cli
