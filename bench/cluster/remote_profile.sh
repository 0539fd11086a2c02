#!/usr/bin/env bash
# bench/cluster/remote_profile.sh [BUILD_DIR]: where a sequential remote
# spawn + get round trip spends its time. Runs the latency mode of
# remote_tasks on a fresh `skein up --nodes 2` (driver on node-1, tasks pinned
# to node-2) and, for comparison, the bare gRPC unary echo; during a window of
# WINDOW seconds in the middle of each run it samples, for every process on
# the path, the CPU time (utime + stime, all threads) and the context switches
# (voluntary + involuntary, all threads), and divides by the round trips done
# in the window (window / mean latency). Prints a table of CPU us and context
# switches per round trip, per process.
#
# A context switch here is a thread blocking or being preempted: each hop
# that parks a thread and wakes another on the other side costs two or more.
# With PERF=1 it also runs `perf record -g` on every process of the Skein
# path for WINDOW seconds and prints the top symbols (needs perf).
#
# Then the same per task for the throughput mode (TPUT_ROUNDS rounds of
# 200,000 tasks; the window starts after the warm-up round).
# Environment: TPUT_ROUNDS=12, CALLS=40000 (Skein round trips; gRPC gets 5x; both must outlast
# 1 s + the window), WINDOW=4.
# Only processes this script started are signalled (by pid; `skein down` on its
# own state directory).
set -euo pipefail

build=${1:-build}
CALLS=${CALLS:-40000}
WINDOW=${WINDOW:-4}
PERF=${PERF:-0}
TPUT_ROUNDS=${TPUT_ROUNDS:-12}
skein="$build/cli/skein"
job="$build/bench/cluster/remote_tasks"
for bin in "$skein" "$job" "$build/bench/grpc/echo_server" "$build/bench/grpc/echo_client"; do
  [ -x "$bin" ] || {
    echo "remote_profile: $bin is missing" >&2
    exit 1
  }
done

work=$(mktemp -d /tmp/skein-remote-profile.XXXXXX)
state=$(mktemp -d /tmp/skein-remote-profile-state.XXXXXX)
pids_started=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids_started[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  timeout 20 "$skein" --state-dir "$state" down >/dev/null 2>&1 || true
  rm -rf "$work" "$state"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# sample PID: "cpu_ticks context_switches" summed over the process's threads.
sample() {
  local t s rest cpu=0 cs=0
  local -a f
  for t in /proc/"$1"/task/*; do
    s=$(cat "$t/stat" 2>/dev/null) || continue
    rest=${s##*) }
    read -ra f <<<"$rest"
    cpu=$((cpu + f[11] + f[12]))
    cs=$((cs + $(awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "$t/status" 2>/dev/null || echo 0)))
  done
  echo "$cpu $cs"
}
hz=$(getconf CLK_TCK)

# window NAME=PID...: samples every process into `before`, sleeps WINDOW
# seconds, samples them again into `after`; t0/t1 bound the window.
declare -A before after
window() {
  local kv
  for kv in "$@"; do
    before[$kv]=$(sample "${kv#*=}")
  done
  t0=$EPOCHREALTIME
  sleep "$WINDOW"
  t1=$EPOCHREALTIME
  for kv in "$@"; do
    kill -0 "${kv#*=}" 2>/dev/null || {
      echo "remote_profile: ${kv%%=*} ended before the window did; raise CALLS" >&2
      exit 1
    }
    after[$kv]=$(sample "${kv#*=}")
  done
}

# report LABEL MEAN_US NAME=PID...: the per-round-trip table of the last window
# (MEAN_US: the mean time of one round trip, or of one task in throughput mode).
unit="round trip"
report() {
  local label=$1 mean_us=$2 kv c0 s0 c1 s1 tc=0 ts=0 trips
  shift 2
  trips=$(awk -v a="$t0" -v b="$t1" -v m="$mean_us" 'BEGIN { printf "%.0f", (b - a) * 1e6 / m }')
  echo
  echo "$label: ~$trips ${unit}s in the $WINDOW s window ($mean_us us each)"
  echo "| process | CPU us / $unit | context switches / $unit |"
  echo "|---|---|---|"
  for kv in "$@"; do
    read -r c0 s0 <<<"${before[$kv]}"
    read -r c1 s1 <<<"${after[$kv]}"
    tc=$((tc + c1 - c0))
    ts=$((ts + s1 - s0))
    awk -v n="${kv%%=*}" -v c=$((c1 - c0)) -v s=$((s1 - s0)) -v t="$trips" -v hz="$hz" \
      'BEGIN { printf "| %s | %.1f | %.2f |\n", n, c * 1e6 / hz / t, s / t }'
  done
  awk -v c="$tc" -v s="$ts" -v t="$trips" -v hz="$hz" \
    'BEGIN { printf "| **all** | %.1f | %.2f |\n", c * 1e6 / hz / t, s / t }'
}

echo "remote_profile: $build, CALLS=$CALLS WINDOW=$WINDOW, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- gRPC unary ----------------------------------------------------------------
"$build/bench/grpc/echo_server" >"$work/server.out" &
server=$!
pids_started+=("$server")
for _ in $(seq 100); do
  grep -q '^port ' "$work/server.out" && break
  sleep 0.05
done
port=$(awk '$1 == "port" { print $2 }' "$work/server.out")
# A gRPC round trip is several times shorter: 5x the calls to outlast the window.
"$build/bench/grpc/echo_client" --target "127.0.0.1:$port" --calls $((CALLS * 5)) \
  --mode unary >"$work/client.out" &
client=$!
pids_started+=("$client")
sleep 1
grpc_procs=("echo_client=$client" "echo_server=$server")
window "${grpc_procs[@]}"
wait "$client" || true
cat "$work/client.out"
report "gRPC unary" "$(sed -n 's/.*mean_us=\([0-9.]*\).*/\1/p' "$work/client.out")" "${grpc_procs[@]}"
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true

# --- Skein spawn + get ------------------------------------------------------------
timeout 60 "$skein" --state-dir "$state" up --nodes 2 >/dev/null
mapfile -t nodes < <(timeout 60 "$skein" --state-dir "$state" nodes | awk '$3 == "alive" { print $1 }')
if [ "${#nodes[@]}" -ne 2 ]; then
  echo "remote_profile: expected 2 alive nodes, got: ${nodes[*]}" >&2
  exit 1
fi
timeout 600 "$skein" --state-dir "$state" submit --pin "${nodes[0]}" --wait -q "$job" -- \
  --target "${nodes[1]}" --mode latency --calls "$CALLS" --warmup 10 >"$work/job.out" 2>&1 &
submit=$!
pids_started+=("$submit")
for _ in $(seq 600); do
  grep -q 'ran_on' "$work/job.out" && break
  sleep 0.1
done
driver=$(sed -n 's/^skein mode=.* pid=\([0-9]*\) .*/\1/p' "$work/job.out")
task=$(sed -n 's/.*ran_on="[^ ]* \([0-9]*\)".*/\1/p' "$work/job.out")
if [ -z "$driver" ] || [ -z "$task" ]; then
  echo "remote_profile: the job did not start: $(cat "$work/job.out")" >&2
  exit 1
fi
procs=("driver_worker=$driver" "agent-1=$(head -1 "$state/pids/agent-1.pid")"
  "coordinator=$(head -1 "$state/pids/coordinator.pid")"
  "agent-2=$(head -1 "$state/pids/agent-2.pid")" "task_worker=$task")
sleep 1
window "${procs[@]}"
if [ "$PERF" = 1 ]; then
  pid_list=$(for kv in "${procs[@]}"; do printf '%s,' "${kv#*=}"; done)
  perf record -q -g -o "$work/perf.data" -p "${pid_list%,}" -- sleep "$WINDOW" >/dev/null 2>&1 || true
fi
wait "$submit" || true
cat "$work/job.out"
report "Skein spawn + get (driver ${nodes[0]} -> task ${nodes[1]})" \
  "$(sed -n 's/.*mean_us=\([0-9.]*\).*/\1/p' "$work/job.out")" "${procs[@]}"

# --- Skein throughput: the same accounting per task -----------------------------
timeout 600 "$skein" --state-dir "$state" submit --pin "${nodes[0]}" --wait -q "$job" -- \
  --target "${nodes[1]}" --mode throughput --tasks 200000 --rounds "$TPUT_ROUNDS" >"$work/tput.out" 2>&1 &
submit=$!
pids_started+=("$submit")
for _ in $(seq 600); do
  grep -q 'ran_on' "$work/tput.out" && break
  sleep 0.1
done
driver=$(sed -n 's/^skein mode=.* pid=\([0-9]*\) .*/\1/p' "$work/tput.out")
task=$(sed -n 's/.*ran_on="[^ ]* \([0-9]*\)".*/\1/p' "$work/tput.out")
if [ -z "$driver" ] || [ -z "$task" ]; then
  echo "remote_profile: the throughput job did not start: $(cat "$work/tput.out")" >&2
  exit 1
fi
procs[0]="driver_worker=$driver"
procs[4]="task_worker=$task"
sleep 3  # past the warm-up round
window "${procs[@]}"
wait "$submit" || true
cat "$work/tput.out"
unit="task"
report "Skein throughput (200,000-task rounds, DistWaitGroup)" \
  "$(awk '/^skein throughput / { for (i = 1; i <= NF; i++) if ($i ~ /^tasks_per_s=/) printf "%.3f", 1e6 / substr($i, 13) }' "$work/tput.out")" \
  "${procs[@]}"

if [ "$PERF" = 1 ] && [ -f "$work/perf.data" ]; then
  echo
  echo "perf (Skein path, $WINDOW s, all processes): top entries by comm, dso"
  perf report -i "$work/perf.data" --no-children -g none --sort comm,dso --percent-limit 1 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -20
fi
