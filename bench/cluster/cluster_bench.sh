#!/usr/bin/env bash
# bench/cluster/cluster_bench.sh [BUILD_DIR]: measures the cluster control plane
# against the targets of issue 4, with the real binaries of BUILD_DIR (default
# `build`), on this machine, over loopback only:
#
#   1. `skein up --nodes 3` wall time until it returns (it returns once every
#      node has registered). ROUNDS runs, each with a fresh temp --state-dir and
#      a `skein down` after it. Target: < 2 s.
#   2. Submit of a 10 MiB job binary to its first stdout line: a small job
#      binary padded to 10 MiB with random bytes appended after the ELF (fresh
#      bytes each run, so every run uploads and every node fetches a new hash;
#      the copy is run locally first to show it still works). Timed from
#      starting `skein submit --wait` to the first line arriving on its stdout.
#      ROUNDS runs on one cluster. Target: < 500 ms.
#   3. Node agent idle: on that cluster right after `up` (before any job),
#      IDLE_SETTLE seconds of rest, then utime+stime of every agent over
#      IDLE_SECONDS, and VmRSS at the end. Targets: < 1 % CPU, < 30 MiB RSS
#      (the worst agent counts). The coordinator's figures are shown too.
#
# Prints the per-run figures, then one Markdown table (measured, target,
# pass/fail) and the machine (nproc, kernel, load average) and commit.
#
# Environment:
#   ROUNDS=5          runs of measurements 1 and 2 (the table shows medians)
#   NODES=3           node agents per cluster
#   PAD_BYTES=10485760  size of the padded job binary
#   IDLE_SETTLE=2     seconds between `up` and the first idle sample
#   IDLE_SECONDS=10   idle sampling window
#   RUN_TIMEOUT=60    seconds before one CLI invocation is killed (a failure)
#
# Only processes this script started are ever signalled: `skein down` on the
# state directories it created, then, for anything still alive, the pids in
# those directories' pidfiles whose start time (field 22 of /proc/PID/stat)
# matches the pidfile and whose command line names the state directory.
# Exit status: 0 all targets met, 2 some target missed, 1 a measurement failed.
set -euo pipefail

build=${1:-build}
ROUNDS=${ROUNDS:-5}
NODES=${NODES:-3}
PAD_BYTES=${PAD_BYTES:-10485760}
IDLE_SETTLE=${IDLE_SETTLE:-2}
IDLE_SECONDS=${IDLE_SECONDS:-10}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}

die() {
  echo "cluster_bench: $*" >&2
  exit 1
}

skein="$build/cli/skein"
for bin in "$skein" "$build/coordinator/skein-coordinator" "$build/node/skein-node"; do
  [ -x "$bin" ] || die "$bin is missing; build it first"
done
# A job that prints a line at once and exits: the integration-test job's
# `hello` mode, else cluster_hello with a short run.
if [ -x "$build/tests/integration/skein_test_job" ]; then
  job="$build/tests/integration/skein_test_job"
  job_args=(hello)
elif [ -x "$build/examples/cluster_hello" ]; then
  job="$build/examples/cluster_hello"
  job_args=(0.1)
else
  die "no job binary ($build/tests/integration/skein_test_job or $build/examples/cluster_hello)"
fi
for tool in timeout awk sort head; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

# stamp VAR: VAR = microseconds since the epoch, without forking (bash 5).
stamp() { printf -v "$1" '%s' "${EPOCHREALTIME/[.,]/}"; }
t0=0 t1=0 t_end=0
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 (EPOCHREALTIME) is required"

work=$(mktemp -d /tmp/skein-cluster-bench.XXXXXX)
states=()

# shellcheck source=bench/cluster/live_pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/live_pids.sh"

stop_cluster() {
  local state=$1 name pid
  timeout 20 "$skein" --state-dir "$state" down >/dev/null 2>&1 || true
  while read -r name pid; do
    [ -n "$pid" ] || continue
    echo "cluster_bench: $name (pid $pid) survived skein down; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  done < <(live_pids "$state")
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local state
  trap - EXIT INT TERM
  for state in "${states[@]}"; do
    stop_cluster "$state"
    rm -rf "$state"
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# new_state: state = a fresh state directory, remembered for the cleanup.
new_state() {
  state=$(mktemp -d /tmp/skein-cluster-bench-state.XXXXXX)
  states+=("$state")
}

# Median / min / max of the numbers given as arguments.
stats3() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "%.0f %.0f %.0f\n", m, v[1], v[NR] }'
}

verdict() {  # verdict VALUE LIMIT -> pass when VALUE < LIMIT
  awk -v v="$1" -v l="$2" 'BEGIN { print (v < l) ? "pass" : "**FAIL**" }'
}

source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
source_dir=${source_dir:-$(cd "$(dirname "$0")/../.." && pwd)}
commit=$(git -C "$source_dir" log -1 --format='%h %cI' 2>/dev/null || echo unknown)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "cluster_bench: $build (source $source_dir at $commit), ROUNDS=$ROUNDS NODES=$NODES"
echo "cluster_bench: job $job ${job_args[*]}; load average $load_before"

# --- 1. skein up --nodes N ------------------------------------------------
up_ms=()
for ((r = 1; r <= ROUNDS; r++)); do
  new_state
  stamp t0
  timeout "$RUN_TIMEOUT" "$skein" --state-dir "$state" up --listen 127.0.0.1:0 --nodes "$NODES" >"$work/up.out" 2>&1 ||
    die "up run $r failed: $(cat "$work/up.out")"
  stamp t1
  addr=$(cat "$state/coordinator.addr")
  [[ $addr == 127.0.0.1:* ]] || die "coordinator listens on $addr, not loopback"
  # Outside the timed window: `up` returned, so all nodes must already be alive.
  alive=$(timeout "$RUN_TIMEOUT" "$skein" --state-dir "$state" nodes | awk '$3 == "alive"' | wc -l)
  [ "$alive" -eq "$NODES" ] || die "up run $r returned with $alive of $NODES nodes alive"
  ms=$(((t1 - t0) / 1000))
  up_ms+=("$ms")
  echo "up run $r: ${ms} ms   ($(head -1 "$work/up.out"))"
  stop_cluster "$state"
done
read -r up_med up_min up_max <<<"$(stats3 "${up_ms[@]}")"

# --- 3. idle agents (fresh cluster, before any job) ----------------------------
new_state
timeout "$RUN_TIMEOUT" "$skein" --state-dir "$state" up --listen 127.0.0.1:0 --nodes "$NODES" >"$work/up.out" 2>&1 ||
  die "up for the idle/submit cluster failed: $(cat "$work/up.out")"
[[ $(cat "$state/coordinator.addr") == 127.0.0.1:* ]] || die "coordinator not on loopback"
mapfile -t daemons < <(live_pids "$state" | sort)
[ "${#daemons[@]}" -eq $((NODES + 1)) ] ||
  die "expected $((NODES + 1)) live daemons in $state/pids, found ${#daemons[@]}"
sleep "$IDLE_SETTLE"

ticks() {  # utime + stime of PID, in clock ticks
  local stat rest
  local -a f
  stat=$(cat "/proc/$1/stat") || return 1
  rest=${stat##*) }
  read -ra f <<<"$rest"
  echo $((f[11] + f[12]))
}
hz=$(getconf CLK_TCK)
declare -A tick0
for d in "${daemons[@]}"; do
  read -r name pid <<<"$d"
  tick0[$name]=$(ticks "$pid") || die "$name (pid $pid) exited during the idle window"
done
stamp t0
sleep "$IDLE_SECONDS"
stamp t1
agent_cpu_max=0
agent_rss_max=0
coord_cpu=""
coord_rss=""
for d in "${daemons[@]}"; do
  read -r name pid <<<"$d"
  tk=$(ticks "$pid") || die "$name (pid $pid) exited during the idle window"
  rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
  cpu=$(awk -v d=$((tk - tick0[$name])) -v hz="$hz" -v us=$((t1 - t0)) \
    'BEGIN { printf "%.2f", 100 * d / hz / (us / 1e6) }')
  rss=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
  echo "idle $name (pid $pid): CPU ${cpu} % over $(((t1 - t0) / 1000)) ms ($((tk - tick0[$name])) ticks at ${hz} Hz), VmRSS ${rss} MiB"
  if [ "$name" = coordinator ]; then
    coord_cpu=$cpu
    coord_rss=$rss
  else
    agent_cpu_max=$(awk -v a="$agent_cpu_max" -v b="$cpu" 'BEGIN { printf "%.2f", (b > a) ? b : a }')
    agent_rss_max=$(awk -v a="$agent_rss_max" -v b="$rss" 'BEGIN { printf "%.1f", (b > a) ? b : a }')
  fi
done

# --- 2. submit a 10 MiB binary -> first stdout line ----------------------------
padded="$work/padded_job"
make_padded() {
  local size
  cp "$job" "$padded"
  size=$(stat -c %s "$padded")
  # A RelWithDebInfo job can exceed the size on its debug info alone: pad a
  # stripped copy then (still the same program; it is run locally below).
  if [ "$size" -ge "$PAD_BYTES" ] && command -v strip >/dev/null; then
    strip -o "$padded" "$job"
    size=$(stat -c %s "$padded")
  fi
  [ "$size" -lt "$PAD_BYTES" ] || die "$job is already $size bytes"
  head -c $((PAD_BYTES - size)) /dev/urandom >>"$padded"
  chmod 0755 "$padded"
}
make_padded
local_out=$(timeout "$RUN_TIMEOUT" "$padded" "${job_args[@]}" 2>/dev/null) ||
  die "the padded binary does not run locally"
echo "padded job ($(stat -c %s "$padded") bytes) runs locally: $(head -1 <<<"$local_out")"

submit_ms=()
for ((r = 1; r <= ROUNDS; r++)); do
  make_padded  # new bytes, new hash: a real upload and a real node fetch
  first=""
  t1=""
  stamp t0
  while IFS= read -r line; do
    if [ -z "$t1" ]; then
      stamp t1
      first=$line
    fi
  done < <(
    rc=0
    timeout "$RUN_TIMEOUT" "$skein" --state-dir "$state" submit "$padded" --wait \
      -- "${job_args[@]}" 2>"$work/submit.err" || rc=$?
    echo "$rc" >"$work/submit.rc"
  )
  stamp t_end
  rc=$(cat "$work/submit.rc" 2>/dev/null || echo "?")
  [ "$rc" = 0 ] || die "submit run $r exited $rc: $(cat "$work/submit.err")"
  [ -n "$t1" ] || die "submit run $r printed nothing on stdout"
  ms=$(((t1 - t0) / 1000))
  submit_ms+=("$ms")
  echo "submit run $r: first line after ${ms} ms, exit after $(((t_end - t0) / 1000)) ms: $first"
done
read -r sub_med sub_min sub_max <<<"$(stats3 "${submit_ms[@]}")"
stop_cluster "$state"

# --- table -----------------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
v_up=$(verdict "$up_med" 2000)
v_sub=$(verdict "$sub_med" 500)
v_cpu=$(verdict "$agent_cpu_max" 1)
v_rss=$(verdict "$agent_rss_max" 30)
echo
echo "| measurement | measured | target | result |"
echo "|---|---|---|---|"
echo "| \`skein up --nodes $NODES\` until it returns (median of $ROUNDS; min-max) | $up_med ms ($up_min-$up_max) | < 2000 ms | $v_up |"
echo "| submit of a $((PAD_BYTES / 1048576)) MiB binary to first stdout line (median of $ROUNDS; min-max) | $sub_med ms ($sub_min-$sub_max) | < 500 ms | $v_sub |"
echo "| node agent idle CPU (worst of $NODES, ${IDLE_SECONDS} s window) | $agent_cpu_max % | < 1 % | $v_cpu |"
echo "| node agent idle VmRSS (worst of $NODES) | $agent_rss_max MiB | < 30 MiB | $v_rss |"
echo "| coordinator idle CPU / VmRSS (no target) | $coord_cpu % / $coord_rss MiB | - | - |"
echo
echo "Machine: nproc $(nproc), kernel $(uname -r), load average $load_before (start) -> $load_after (end)."
echo "Binaries: $build (source $source_dir, commit $commit); job: $(basename "$job") ${job_args[*]}."

case "$v_up$v_sub$v_cpu$v_rss" in
  *FAIL*) exit 2 ;;
  *) exit 0 ;;
esac
