#!/usr/bin/env bash
# bench/cluster/tls_bench.sh [BUILD_DIR]: what mutual TLS costs remote tasks
# (issue 10 target: throughput with mTLS between hosts >= 80% of the same
# run over plaintext loopback). One run, three clusters one after the other,
# each with a driver on one node and every task pinned to another, so each
# task crosses worker -> agent -> coordinator -> agent -> worker and back:
#
#   loopback     `skein up --nodes 2` on 127.0.0.1: local credentials + token
#   loopback-tls `skein up --nodes 2 --tls`: the same, over mutual TLS
#   hosts-tls    (root only) the coordinator on host 0 of the multi-host bed
#                (tests/multihost/lib.sh: network namespaces, a bridge), two
#                agents joined from hosts 1 and 2 with `skein join`, mutual TLS
#                between namespaces
#
# bench/cluster/remote_tasks runs TASKS tiny tasks joined by a DistWaitGroup,
# ROUNDS times after a warm-up; the median round gives tasks/s. Prints one
# Markdown table with the ratios to plaintext loopback.
#
# Environment: TASKS=100000 ROUNDS=5 RUN_TIMEOUT=600
# Only processes this script started are stopped (`skein down` on its state
# directories; the bed's cleanup kills what runs in its namespaces).
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
TASKS=${TASKS:-100000}
ROUNDS=${ROUNDS:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
here=$(cd "$(dirname "$0")" && pwd)
skein="$build/cli/skein"
job="$build/bench/cluster/remote_tasks"
for bin in "$skein" "$job" "$build/coordinator/skein-coordinator" "$build/node/skein-node"; do
  [ -x "$bin" ] || { echo "tls_bench: $bin is missing; build first" >&2; exit 1; }
done
work=$(mktemp -d /tmp/skein-tls-bench.XXXXXX)
states=()
cleanup() {
  for s in "${states[@]}"; do
    timeout 20 "$skein" --state-dir "$s" down >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# median of the "skein throughput_round ... ms=X" lines of a run's output
median_ms() {
  grep -o 'throughput_round .* ms=[0-9.]*' "$1" | sed 's/.*ms=//' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# run_job OUT CLI-PREFIX...: pins the driver and the tasks to two alive
# nodes; CLI-PREFIX runs `skein` with its cluster (and a timeout).
run_job() {
  local out=$1
  shift
  mapfile -t nodes < <("$@" nodes | awk '$3 == "alive" { print $1 }')
  [ "${#nodes[@]}" -ge 2 ] || { echo "tls_bench: need 2 alive nodes, got ${nodes[*]}" >&2; return 1; }
  "$@" submit --pin "${nodes[0]}" --wait --quiet "$job" -- \
    --mode throughput --tasks "$TASKS" --rounds "$ROUNDS" --target "${nodes[1]}" >"$out"
}

declare -A result
for mode in loopback loopback-tls; do
  state="$work/$mode"
  states+=("$state")
  flags=(--listen 127.0.0.1:0 --nodes 2)
  [ "$mode" = loopback-tls ] && flags+=(--tls)
  "$skein" --state-dir "$state" up "${flags[@]}" >"$work/$mode.up"
  run_job "$work/$mode.out" timeout "$RUN_TIMEOUT" "$skein" --state-dir "$state"
  result[$mode]=$(median_ms "$work/$mode.out")
  "$skein" --state-dir "$state" down >/dev/null
  echo "tls_bench: $mode median round ${result[$mode]} ms" >&2
done

if [ "$(id -u)" -eq 0 ] && [ -r "$here/../../tests/multihost/lib.sh" ]; then
  (
    # shellcheck source=../../tests/multihost/lib.sh
    source "$here/../../tests/multihost/lib.sh"
    mh_setup 3
    addr="$(mh_ip 0):7700"
    mh_exec 0 "$skein" up --listen "$addr" --nodes 0 >"$work/hosts.up"
    join=$(grep -o 'skein join .*' "$work/hosts.up")
    read -r _ _ jaddr _ token _ hash <<<"$join"
    for h in 1 2; do
      mh_exec "$h" "$skein" join "$jaddr" --token "$token" --ca-hash "$hash" --node-name "host$h" \
        >/dev/null
    done
    run_job "$work/hosts.out" mh_exec 0 timeout "$RUN_TIMEOUT" "$skein"
    median_ms "$work/hosts.out" >"$work/hosts.median"
  ) || echo "tls_bench: the multi-host run failed or was skipped" >&2
  [ -s "$work/hosts.median" ] && result[hosts-tls]=$(cat "$work/hosts.median")
fi

base=${result[loopback]}
echo
echo "| cluster | median round (${TASKS} tasks) | tasks/s | vs plaintext loopback |"
echo "|---|---|---|---|"
for mode in loopback loopback-tls hosts-tls; do
  ms=${result[$mode]:-}
  [ -n "$ms" ] || { echo "| $mode | not run | | |"; continue; }
  awk -v m="$mode" -v ms="$ms" -v t="$TASKS" -v b="$base" \
    'BEGIN { printf "| %s | %.1f ms | %.0f | %.2f |\n", m, ms, t / (ms / 1000), b / ms }'
done
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
  "load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')"
