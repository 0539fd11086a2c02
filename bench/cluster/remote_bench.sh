#!/usr/bin/env bash
# bench/cluster/remote_bench.sh [BUILD_DIR]: distributed execution side by side
# (issue 5 targets), with the binaries of BUILD_DIR (default `build`), on this
# machine, over loopback only. One run measures, one after the other:
#
#   gRPC    bench/grpc/echo_server + echo_client: CALLS sequential unary calls
#           (median, p99): the bare round trip the latency target is relative to;
#           and, for reference, CALLS ping-pongs on one bidirectional stream.
#   Skein   `skein up --nodes 2`, then bench/cluster/remote_tasks submitted
#           with `skein submit --wait`, its driver pinned to the first node and
#           every task pinned to the second (--target), so each task crosses
#           worker -> agent -> coordinator -> agent -> worker and back:
#             throughput: TASKS tiny tasks joined by a DistWaitGroup, median of
#             ROUNDS rounds (after a warm-up round);
#             latency: CALLS sequential spawn + get round trips (median, p99);
#             memory: INFLIGHT_TASKS nap(HOLD_MS) tasks spawned at once; the
#             coordinator's VmRSS is sampled every 100 ms while they are in
#             flight: (peak - before) / tasks in flight = bytes per task.
#   Erlang  bench/erlang/run.sh TASKS ROUNDS CALLS: two Erlang nodes on
#           loopback, the same work (remote spawn + reply), three spawn styles.
#
# Then one Markdown table: medians, ratios and the targets (throughput >=
# Erlang's best style; latency <= 2x gRPC unary), plus the machine, the load
# and the commit.
#
# Environment:
#   MODE=cluster      cluster: the real measurement; local: remote_tasks run
#                     directly (no agent: every task runs in its own process),
#                     which only checks the pipeline and shows the SDK's cost
#   TASKS=200000 ROUNDS=5 CALLS=2000 WARMUP=200
#   INFLIGHT_TASKS=200000 HOLD_MS=15000   memory measurement (INFLIGHT_TASKS=0: skip)
#   SKIP_ERLANG=0 SKIP_GRPC=0
#   RUN_TIMEOUT=900   seconds before one job / program is killed (a failure)
#
# Only processes this script started are ever signalled: the echo server by
# its pid, and `skein down` on the state directory it created, then, for
# anything still alive, the pids in its pidfiles whose start time and command
# line match (as cluster_bench.sh). bench/erlang/run.sh stops its own nodes.
# Exit status: 0 all targets met, 2 some target missed, 1 a measurement failed.
set -euo pipefail

build=${1:-build}
MODE=${MODE:-cluster}
TASKS=${TASKS:-200000}
ROUNDS=${ROUNDS:-5}
CALLS=${CALLS:-2000}
WARMUP=${WARMUP:-200}
INFLIGHT_TASKS=${INFLIGHT_TASKS:-200000}
HOLD_MS=${HOLD_MS:-15000}
SKIP_ERLANG=${SKIP_ERLANG:-0}
SKIP_GRPC=${SKIP_GRPC:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}

die() {
  echo "remote_bench: $*" >&2
  exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
skein="$build/cli/skein"
job="$build/bench/cluster/remote_tasks"
echo_server="$build/bench/grpc/echo_server"
echo_client="$build/bench/grpc/echo_client"
[ -x "$job" ] || die "$job is missing; build target bench_remote_tasks"
if [ "$SKIP_GRPC" = 0 ]; then
  for bin in "$echo_server" "$echo_client"; do
    [ -x "$bin" ] || die "$bin is missing; build bench_grpc_echo_server bench_grpc_echo_client"
  done
fi
case "$MODE" in
  cluster)
    for bin in "$skein" "$build/coordinator/skein-coordinator" "$build/node/skein-node"; do
      [ -x "$bin" ] || die "$bin is missing; build it first"
    done
    ;;
  local) ;;
  *) die "MODE must be cluster or local, not $MODE" ;;
esac
for tool in timeout awk sort grep; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

work=$(mktemp -d /tmp/skein-remote-bench.XXXXXX)
state=""
server_pid=""

# shellcheck source=bench/cluster/live_pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/live_pids.sh"

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local name pid
  trap - EXIT INT TERM
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$state" ]; then
    timeout 20 "$skein" --state-dir "$state" down >/dev/null 2>&1 || true
    while read -r name pid; do
      [ -n "$pid" ] || continue
      echo "remote_bench: $name (pid $pid) survived skein down; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    done < <(live_pids "$state")
    rm -rf "$state"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# field FILE PREFIX KEY: value of KEY=value on the first line of FILE that
# starts with PREFIX ("" when absent).
field() {
  awk -v p="$2" -v k="$3" 'index($0, p) == 1 {
      for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit }
    }' "$1"
}
ratio() {  # ratio A B -> A/B with 2 decimals, "-" if either is missing
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
verdict() {  # verdict VALUE OP LIMIT
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
      if (v == "" || v == "-") { print "n/a"; exit }
      ok = (op == ">=") ? (v >= l) : (v <= l); print ok ? "pass" : "**FAIL**" }'
}

source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
source_dir=${source_dir:-$(cd "$here/../.." && pwd)}
commit=$(git -C "$source_dir" log -1 --format='%h %cI' 2>/dev/null || echo unknown)
if [ -n "$(git -C "$source_dir" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit + uncommitted changes"
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "remote_bench: $build (source $source_dir at $commit), MODE=$MODE TASKS=$TASKS ROUNDS=$ROUNDS CALLS=$CALLS"
echo "remote_bench: load average $load_before"

# --- gRPC unary baseline ------------------------------------------------------
grpc_out="$work/grpc.out"
: >"$grpc_out"
if [ "$SKIP_GRPC" = 0 ]; then
  "$echo_server" >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  port=""
  for _ in $(seq 200); do
    port=$(awk '$1 == "port" { print $2; exit }' "$work/server.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || die "echo_server exited: $(cat "$work/server.err")"
    sleep 0.05
  done
  [ -n "$port" ] || die "echo_server printed no port"
  timeout "$RUN_TIMEOUT" "$echo_client" --target "127.0.0.1:$port" --calls "$CALLS" \
    --warmup "$WARMUP" >"$grpc_out" || die "echo_client failed"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  cat "$grpc_out"
fi

# --- Skein ------------------------------------------------------------------------
skein_out="$work/skein.out"
inflight_out="$work/inflight.out"
: >"$inflight_out"
job_args=(--tasks "$TASKS" --rounds "$ROUNDS" --calls "$CALLS" --warmup "$WARMUP")
mem_before="" mem_peak="" inflight_seen=""
if [ "$MODE" = local ]; then
  timeout "$RUN_TIMEOUT" "$job" "${job_args[@]}" >"$skein_out" || die "$job failed (local mode)"
  cat "$skein_out"
else
  state=$(mktemp -d /tmp/skein-remote-bench-state.XXXXXX)
  timeout 60 "$skein" --state-dir "$state" up --listen 127.0.0.1:0 --nodes 2 >"$work/up.out" 2>&1 ||
    die "skein up failed: $(cat "$work/up.out")"
  [[ $(cat "$state/coordinator.addr") == 127.0.0.1:* ]] || die "coordinator not on loopback"
  mapfile -t nodes < <(timeout 60 "$skein" --state-dir "$state" nodes | awk '$3 == "alive" { print $1 }')
  [ "${#nodes[@]}" -eq 2 ] || die "expected 2 alive nodes, got: ${nodes[*]}"
  driver_node=${nodes[0]}
  task_node=${nodes[1]}
  echo "remote_bench: driver on $driver_node, tasks pinned to $task_node"
  timeout "$RUN_TIMEOUT" "$skein" --state-dir "$state" submit --pin "$driver_node" --wait --quiet \
    "$job" -- "${job_args[@]}" --target "$task_node" >"$skein_out" 2>"$work/skein.err" ||
    die "the Skein job failed: $(tail -5 "$work/skein.err") $(tail -5 "$skein_out")"
  cat "$skein_out"

  if [ "$INFLIGHT_TASKS" -gt 0 ]; then
    coord_pid=$(live_pids "$state" | awk '$1 == "coordinator" { print $2 }')
    [ -n "$coord_pid" ] || die "no live coordinator pid in $state/pids"
    rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$coord_pid/status"; }
    sleep 1  # let the previous job's state settle before the baseline
    mem_before=$(rss_kb)
    mem_peak=$mem_before
    timeout "$RUN_TIMEOUT" "$skein" --state-dir "$state" submit --pin "$driver_node" --wait \
      --quiet "$job" -- --mode inflight --tasks "$INFLIGHT_TASKS" --hold-ms "$HOLD_MS" \
      --target "$task_node" >"$inflight_out" 2>"$work/inflight.err" &
    submit_pid=$!
    # Sample until the job ends; the peak counts (tasks are all in flight
    # between "spawned" and the first nap's end).
    while kill -0 "$submit_pid" 2>/dev/null; do
      kb=$(rss_kb) || die "the coordinator exited during the memory measurement"
      [ "$kb" -gt "$mem_peak" ] && mem_peak=$kb
      if [ -z "$inflight_seen" ] && grep -q '^skein inflight spawned' "$inflight_out"; then
        inflight_seen=$(awk -v kb="$kb" 'BEGIN { print kb }')
      fi
      sleep 0.1
    done
    wait "$submit_pid" || die "the in-flight job failed: $(tail -5 "$work/inflight.err")"
    cat "$inflight_out"
    echo "coordinator VmRSS: ${mem_before} kB before, ${mem_peak} kB peak (${inflight_seen:-?} kB when all were spawned)"
  fi
fi
grep -q '^skein throughput ' "$skein_out" || die "no throughput line from the Skein job"
grep -q '^skein latency ' "$skein_out" || die "no latency line from the Skein job"

# --- Erlang -------------------------------------------------------------------------
erlang_out="$work/erlang.out"
: >"$erlang_out"
if [ "$SKIP_ERLANG" = 0 ]; then
  ERL_TIMEOUT=$RUN_TIMEOUT bash "$source_dir/bench/erlang/run.sh" "$TASKS" "$ROUNDS" "$CALLS" \
    >"$erlang_out" || die "the Erlang benchmark failed"
  cat "$erlang_out"
fi

# --- table -------------------------------------------------------------------------
sk_tput=$(field "$skein_out" "skein throughput " tasks_per_s)
sk_tput_ms=$(field "$skein_out" "skein throughput " median_ms)
sk_lat=$(field "$skein_out" "skein latency " median_us)
sk_p99=$(field "$skein_out" "skein latency " p99_us)
g_lat=$(field "$grpc_out" "grpc latency " median_us)
g_p99=$(field "$grpc_out" "grpc latency " p99_us)
gs_lat=$(field "$grpc_out" "grpc stream_latency " median_us)
e_lat=$(field "$erlang_out" "erlang latency " median_us)
e_p99=$(field "$erlang_out" "erlang latency " p99_us)
# Erlang's best spawn style is the bar.
e_best="" e_best_kind="" e_best_ms=""
for kind in request request_par spawn4_par request_win; do
  v=$(field "$erlang_out" "erlang throughput kind=$kind " tasks_per_s)
  [ -n "$v" ] || continue
  if [ -z "$e_best" ] || [ "$v" -gt "$e_best" ]; then
    e_best=$v
    e_best_kind=$kind
    e_best_ms=$(field "$erlang_out" "erlang throughput kind=$kind " median_ms)
  fi
done
lat_ratio=$(ratio "$sk_lat" "$g_lat")
tput_ratio=$(ratio "$sk_tput" "$e_best")
v_tput=$(verdict "$tput_ratio" ">=" 1)
v_lat=$(verdict "$lat_ratio" "<=" 2)
where="onto another node"
if [ "$MODE" = local ]; then
  # In-process tasks say nothing about the targets: no verdict.
  v_tput="n/a (local)"
  v_lat="n/a (local)"
  where="in the job's own process (local mode)"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "| measurement ($MODE mode) | Skein | baseline | Skein / baseline | target | result |"
echo "|---|---|---|---|---|---|"
echo "| throughput: $TASKS tiny tasks $where, DistWaitGroup (median of $ROUNDS) | ${sk_tput:-?} tasks/s (${sk_tput_ms:-?} ms) | Erlang ${e_best_kind:-n/a}: ${e_best:-?} tasks/s (${e_best_ms:-?} ms) | $tput_ratio | >= 1 | $v_tput |"
for kind in request request_par spawn4_par request_win; do
  v=$(field "$erlang_out" "erlang throughput kind=$kind " tasks_per_s)
  [ -n "$v" ] || continue
  ms=$(field "$erlang_out" "erlang throughput kind=$kind " median_ms)
  echo "| ... Erlang $kind | | $v tasks/s ($ms ms) | $(ratio "$sk_tput" "$v") | | |"
done
echo "| latency: sequential spawn + get, median ($CALLS calls) | ${sk_lat:-?} us | gRPC unary ${g_lat:-?} us | $lat_ratio | <= 2 | $v_lat |"
echo "| latency p99 | ${sk_p99:-?} us | gRPC unary ${g_p99:-?} us | $(ratio "$sk_p99" "$g_p99") | - | - |"
echo "| latency vs one gRPC bidi-stream ping-pong, median (reference: the round trip crosses 2 streams twice) | ${sk_lat:-?} us | gRPC stream ${gs_lat:-?} us | $(ratio "$sk_lat" "$gs_lat") | - | - |"
echo "| latency vs Erlang remote spawn + reply, median | ${sk_lat:-?} us | Erlang ${e_lat:-?} us (p99 ${e_p99:-?}) | $(ratio "$sk_lat" "$e_lat") | - | - |"
if [ -n "$mem_before" ]; then
  per_task=$(awk -v a="$mem_before" -v b="$mem_peak" -v n="$INFLIGHT_TASKS" \
    'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
  echo "| coordinator memory: $INFLIGHT_TASKS nap tasks in flight, (peak - before) VmRSS / tasks | $per_task B/task ($((mem_before / 1024)) -> $((mem_peak / 1024)) MiB) | - | - | report | - |"
fi
echo
echo "Machine: nproc $(nproc), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), load average $load_before (start) -> $load_after (end)."
echo "Binaries: $build (source $source_dir, commit $commit); $(head -1 "$skein_out")."
[ -s "$erlang_out" ] && echo "Erlang: $(head -1 "$erlang_out")."

case "$v_tput$v_lat" in
  *FAIL*) exit 2 ;;
  *) exit 0 ;;
esac
