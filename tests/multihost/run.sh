#!/usr/bin/env bash
# Multi-host scenarios (issue 10): a Skein cluster over 5 "hosts" made of
# network namespaces (see lib.sh and README.md).
#
#   bash tests/multihost/run.sh BUILD_DIR [SCENARIO...]
#
# Scenarios run in order; each prints PASS, FAIL or SKIP, and the last line is
# "N passed, M failed, K skipped". Exit 1 on any failure, 77 when the bed
# cannot be made (no root / no namespaces), else 0. A scenario SKIPs when the
# CLI it needs is not built yet; MH_REQUIRE_ALL=1 turns such skips into
# failures. MH_KEEP_LOGS=DIR keeps the bed's logs.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

BUILD=$(cd "${1:?usage: run.sh BUILD_DIR [SCENARIO...]}" && pwd) || exit 2
shift
ONLY=("$@")

SKEIN=$BUILD/cli/skein
PROXY=$BUILD/tests/multihost/skein_lossy_proxy
[ -n "${MH_PROXY:-}" ] && PROXY=$MH_PROXY
EX=$BUILD/examples

NHOSTS=5          # 0: coordinator, 1-3: node agents, 4: a user's laptop
PORT=7700
PROXY_PORT=7701
HEARTBEAT_MS=200
MISS_LIMIT=5
# The coordinator keeps a silent node's jobs this long after its own restart;
# a cut-off agent fences itself after max(this, heartbeat x miss-limit).
RECOVERY_MS=3000
WATCHDOG_S=${MH_WATCHDOG_S:-840}  # below ctest's TIMEOUT 900

PASSED=0
FAILED=0
SKIPPED=0
SKIP_REASON=""
declare -A RESULT=()  # scenario -> pass|fail|skip

# State shared by the cluster scenarios.
JOIN_LINE=""      # "skein join ADDR --token T --ca-hash sha256:H" printed by `skein up`
JOIN_TOKEN=""
JOIN_CA_HASH=""
USER_CFG=""       # host 4's copy of alice's config

log() { echo "  $*"; }
skip() { SKIP_REASON=$*; return 77; }
# expect DESCRIPTION cmd...: run cmd; on failure say what was expected.
expect() {
  local what=$1
  shift
  if "$@"; then return 0; fi
  log "expected: $what"
  return 1
}

# sk H args...: the skein CLI on host H, bounded in time.
sk() {
  local h=$1
  shift
  mh_exec "$h" timeout "${SK_TIMEOUT:-120}" "$SKEIN" "$@"
}
# sku args...: the CLI on host 4 with alice's config only.
sku() { sk 4 --config "$USER_CFG" "$@"; }

# cli_has VERB... -- FLAG: does the built CLI know this verb (and flag)?
cli_has() {
  local words=() flag=""
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then flag=$2; break; fi
    words+=("$1")
    shift
  done
  [ -x "$SKEIN" ] || return 1
  local help
  help=$(timeout 10 "$SKEIN" "${words[@]}" --help 2>&1) || return 1
  # CLI11 prints the parent's help for an unknown subcommand; require the
  # subcommand's own usage line.
  grep -q -- "${words[-1]}" <<<"$(head -3 <<<"$help")" || return 1
  [ -z "$flag" ] || grep -q -- "$flag" <<<"$help"
}

need_cluster_cli() {
  [ -x "$SKEIN" ] || { skip "$SKEIN not built"; return; }
  cli_has up -- --listen || { skip "waiting on CLI: skein up --listen/--advertise"; return; }
  cli_has join -- --ca-hash || { skip "waiting on CLI: skein join ADDR --token --ca-hash"; return; }
}
CLUSTER_OK=0
need_bringup() {
  [ "$CLUSTER_OK" = 1 ] || skip "needs a cluster (bring-up did not make one)"
}

# Logs of the run's hosts, shown when a scenario fails.
dump_logs() {
  local f
  for f in $(find "$MH_DIR" \( -name '*.log' -o -name '*.out' \) -newer "$MH_DIR/.mark" -size +0 \
      2>/dev/null | head -20); do
    echo "  --- ${f#"$MH_DIR"/} (last 15 lines)"
    tail -15 "$f" | sed 's/^/  | /'
  done
}

run_scenario() {
  local name=$1
  if [ ${#ONLY[@]} -gt 0 ] && [[ " ${ONLY[*]} " != *" $name "* ]]; then return 0; fi
  echo "== $name"
  local t0 rc
  t0=$(mh_now_ms)
  SKIP_REASON=""
  touch "$MH_DIR/.mark"
  "scenario_$name"
  rc=$?
  local dt=$(( $(mh_now_ms) - t0 ))
  case $rc in
    0) PASSED=$((PASSED + 1)); RESULT[$name]=pass; echo "PASS $name (${dt} ms)" ;;
    77) SKIPPED=$((SKIPPED + 1)); RESULT[$name]=skip; echo "SKIP $name: $SKIP_REASON" ;;
    *) FAILED=$((FAILED + 1)); RESULT[$name]=fail; echo "FAIL $name (${dt} ms)"; dump_logs ;;
  esac
}

# ---------------------------------------------------------------- bed checks

# Two hosts reach each other over the bridge; the root namespace is untouched.
scenario_smoke() {
  local h1 pid
  h1=$(mh_ip 1)
  pid=$(mh_spawn 1 "$MH_DIR/logs/echo-h1.log" "$PROXY" --listen "$h1:9000" --echo --delay-ms 0)
  expect "echo server on host 1" mh_wait_for "mh_tcp_probe 0 $h1 9000 1" 5 || return 1
  local reply
  reply=$(mh_exec 0 timeout 3 bash -c "exec 3<>/dev/tcp/$h1/9000; echo ping >&3; read -r -t 2 l <&3; echo \$l")
  expect "echo reply 'ping' from host 1, got '$reply'" [ "$reply" = ping ] || return 1
  local rc
  mh_exec 1 timeout 2 bash -c "exec 3<>/dev/tcp/$(mh_ip 0)/9" 2>/dev/null
  rc=$?
  expect "host 1 -> host 0's closed port refused at once (1), got $rc" [ "$rc" = 1 ] || return 1
  # The hosts have no route out of the bed.
  local routes
  routes=$(mh_exec 0 ip -4 route show)
  expect "host 0's only route is the bed's /24: $routes" \
    [ "$(grep -c . <<<"$routes")" = 1 ] || return 1
  expect "root namespace's links and routes unchanged" root_net_unchanged || return 1
  kill "$pid" 2>/dev/null
  return 0
}

# rtt_ms H IP PORT ROUNDS: mean round trip of a one-line echo, in ms.
rtt_ms() {
  mh_exec "$1" timeout 20 bash -c '
    exec 3<>/dev/tcp/'"$2"'/'"$3"' || exit 1
    total=0
    for i in $(seq '"$4"'); do
      s=$(date +%s%N); echo "r$i" >&3; read -r -t 5 l <&3 || exit 1; e=$(date +%s%N)
      [ "$l" = "r$i" ] || exit 1
      total=$(( total + (e - s) / 1000 ))
    done
    echo $(( total / '"$4"' / 1000 ))'
}

# The lossy proxy (in the switch namespace) adds its delay each way, does not
# serialize pipelined data, and emulates loss as RTO-like stalls.
scenario_proxy() {
  [ -x "$PROXY" ] || { skip "$PROXY not built"; return; }
  local h1 sw
  h1=$(mh_ip 1)
  sw=$(mh_ip sw)
  mh_spawn 1 "$MH_DIR/logs/echo2-h1.log" "$PROXY" --listen "$h1:9001" --echo --delay-ms 0 >/dev/null
  mh_spawn sw "$MH_DIR/logs/proxy-delay.log" "$PROXY" --listen "$sw:9100" \
    --target "$h1:9001" --delay-ms 20 >/dev/null
  local lossy
  lossy=$(mh_spawn sw "$MH_DIR/logs/proxy-loss.log" "$PROXY" --listen "$sw:9101" \
    --target "$h1:9001" --delay-ms 20 --loss 1 --stall-ms 200)
  expect "proxies up" mh_wait_for "mh_tcp_probe 0 $sw 9100 1 && mh_tcp_probe 0 $sw 9101 1" 5 || return 1
  local direct delayed stalled
  direct=$(rtt_ms 0 "$h1" 9001 10) || { log "direct echo failed"; return 1; }
  delayed=$(rtt_ms 0 "$sw" 9100 10) || { log "echo through the proxy failed"; return 1; }
  stalled=$(rtt_ms 0 "$sw" 9101 3) || { log "echo through the lossy proxy failed"; return 1; }
  log "round trip: direct ${direct} ms, via proxy (20 ms each way) ${delayed} ms," \
    "every chunk 'lost' (+200 ms) ${stalled} ms"
  expect "40 <= delayed rtt < 120" test "$delayed" -ge 40 -a "$delayed" -lt 120 || return 1
  expect "440 <= stalled rtt < 700" test "$stalled" -ge 440 -a "$stalled" -lt 700 || return 1
  # 50 pipelined lines: one delay, not 50.
  local ms
  ms=$(mh_exec 0 timeout 20 bash -c '
    exec 3<>/dev/tcp/'"$sw"'/9100 || exit 1
    s=$(date +%s%N)
    for i in $(seq 50); do echo "p$i" >&3; done
    for i in $(seq 50); do read -r -t 5 l <&3 || exit 1; done
    [ "$l" = p50 ] || exit 1
    echo $(( ($(date +%s%N) - s) / 1000000 ))') || { log "pipelined echo failed"; return 1; }
  log "50 pipelined lines through the proxy: ${ms} ms"
  expect "pipelined data not serialized (< 400 ms)" [ "$ms" -lt 400 ] || return 1
  kill -TERM "$lossy"
  expect "proxy exits on SIGTERM" mh_wait_for "! kill -0 $lossy" 3 || return 1
  expect "proxy counted its stalls" grep -q ' [1-9][0-9]* stalls' "$MH_DIR/logs/proxy-loss.log" || return 1
  return 0
}

# A partitioned host is silent both ways (connects hang, no reset), and heals.
scenario_partition_bed() {
  [ -n "$MH_PARTITION_METHOD" ] || { skip "neither nft nor iptables installed"; return; }
  [ -x "$PROXY" ] || { skip "$PROXY not built"; return; }
  local h0 h2
  h0=$(mh_ip 0)
  h2=$(mh_ip 2)
  mh_spawn 2 "$MH_DIR/logs/echo-h2.log" "$PROXY" --listen "$h2:9002" --echo --delay-ms 0 >/dev/null
  mh_spawn 0 "$MH_DIR/logs/echo-h0.log" "$PROXY" --listen "$h0:9002" --echo --delay-ms 0 >/dev/null
  expect "echo on host 2" mh_wait_for "mh_tcp_probe 0 $h2 9002 1 && mh_tcp_probe 2 $h0 9002 1" 5 ||
    return 1
  # A connection open before the partition: after it, its echo must hang.
  local go=$MH_DIR/held.go held=$MH_DIR/logs/held.out
  mh_exec 0 timeout 20 bash -c "exec 3<>/dev/tcp/$h2/9002 || exit 1; echo a >&3; read -r -t 2 l <&3;
    echo connected; while [ ! -e $go ]; do sleep 0.05; done
    echo b >&3; if read -r -t 2 l <&3; then echo got; else echo hung; fi" >"$held" 2>&1 &
  expect "held connection open" mh_wait_for "grep -q connected $held" 5 || return 1
  mh_partition 2 || { log "mh_partition failed"; return 1; }
  local t0 rc
  t0=$(mh_now_ms)
  mh_tcp_probe 0 "$h2" 9002 2
  rc=$?
  log "connect to the partitioned host: exit $rc after $(( $(mh_now_ms) - t0 )) ms (124 = hung)"
  expect "connect into the partition hangs (timeout 124), got $rc" [ "$rc" = 124 ] || return 1
  t0=$(mh_now_ms)
  mh_tcp_probe 2 "$h0" 9002 2
  rc=$?
  log "connect out of the partition: exit $rc after $(( $(mh_now_ms) - t0 )) ms"
  expect "connect out of the partition hangs (timeout 124), got $rc" [ "$rc" = 124 ] || return 1
  mh_exec 2 bash -c "exec 3<>/dev/tcp/$h2/9002" ||
    { log "loopback-side traffic inside host 2 must keep working"; return 1; }
  touch "$go"
  expect "an open connection hangs in the partition" mh_wait_for "grep -q 'got\\|hung' $held" 5 ||
    return 1
  log "open connection during the partition: $(tail -1 "$held")"
  expect "open connection hung" grep -q hung "$held" || return 1
  mh_heal 2 || { log "mh_heal failed"; return 1; }
  expect "host 2 reachable within 3 s of healing" mh_wait_for "mh_tcp_probe 0 $h2 9002 1" 3 ||
    return 1
  return 0
}

# A bed whose script fails midway, and one killed by SIGTERM, leave nothing.
scenario_cleanup() {
  local mode out id rc
  for mode in fail term; do
    out=$MH_DIR/logs/child-$mode.out
    MODE=$mode bash -c '
      set -e
      source "'"$HERE"'/lib.sh"
      mh_setup 2
      echo "RUNID=$MH_ID"
      mh_spawn 0 /dev/null sleep 300 >/dev/null
      mh_spawn 1 /dev/null sleep 300 >/dev/null
      # A daemon that escapes the pid files (own session, parent gone).
      mh_exec 1 setsid bash -c "sleep 300 & disown" </dev/null >/dev/null 2>&1
      mh_mount_tmpfs "$MH_DIR/h0/tmpfs" 1m
      echo ready
      if [ "$MODE" = fail ]; then false; fi
      sleep 60 & wait $!
    ' >"$out" 2>&1 &
    local child=$!
    mh_wait_for "grep -q ready $out" 10 || { log "child bed ($mode) did not start"; cat "$out"; return 1; }
    id=$(sed -n 's/^RUNID=//p' "$out")
    if [ "$mode" = term ]; then kill -TERM "$child"; fi
    mh_wait_for "! kill -0 $child" 20 || { log "child bed ($mode) did not end"; return 1; }
    wait "$child"
    rc=$?
    log "child bed $id ($mode): exit $rc"
    if [ "$mode" = fail ]; then
      expect "child exits 1 on a failed command" [ "$rc" = 1 ] || return 1
    else
      expect "child dies of SIGTERM (143)" [ "$rc" = 143 ] || return 1
    fi
    if ! mh_leftovers "$id" | sed 's/^/  /'; then :; fi
    expect "nothing left of bed $id" mh_leftovers "$id" >/dev/null || return 1
  done
  return 0
}

# ---------------------------------------------------------------- the cluster

# a. Host 0 runs the coordinator, hosts 1-3 join with the printed command,
# host 4 gets a user credential out of band.
scenario_bringup() {
  need_cluster_cli || return
  local h0 t0 out
  h0=$(mh_ip 0)
  t0=$(mh_now_ms)
  out=$(sk 0 up --listen "$h0:$PORT" --advertise "$h0" --nodes 0 \
    --heartbeat-ms "$HEARTBEAT_MS" --miss-limit "$MISS_LIMIT" \
    --coordinator-flag=--recovery-window-ms="$RECOVERY_MS" 2>&1)
  local rc=$?
  echo "$out" >"$MH_DIR/logs/up-h0.out"
  [ $rc = 0 ] || { log "skein up failed ($rc): $out"; return 1; }
  JOIN_LINE=$(grep -o 'skein join [^ ]* --token [^ ]* --ca-hash sha256:[0-9a-fA-F]*' <<<"$out" | head -1)
  [ -n "$JOIN_LINE" ] || { log "no join command in: $out"; return 1; }
  JOIN_TOKEN=$(sed 's/.* --token \([^ ]*\) .*/\1/' <<<"$JOIN_LINE")
  JOIN_CA_HASH=$(sed 's/.* --ca-hash \(sha256:[0-9a-fA-F]*\).*/\1/' <<<"$JOIN_LINE")
  local addr h pids=()
  addr=$(awk '{print $3}' <<<"$JOIN_LINE")
  log "join command: skein join $addr --token <redacted> --ca-hash ${JOIN_CA_HASH:0:20}..."
  for h in 1 2 3; do
    sk "$h" join "$addr" --token "$JOIN_TOKEN" --ca-hash "$JOIN_CA_HASH" --node-name "host$h" \
      >"$MH_DIR/logs/join-h$h.out" 2>&1 &
    pids+=($!)
  done
  local bad=0
  for h in 1 2 3; do
    if ! wait "${pids[$((h - 1))]}"; then
      bad=1
      log "concurrent join of host $h failed: $(head -1 "$MH_DIR/logs/join-h$h.out")"
      grep -m2 'register with' "$(mh_home "$h")/.skein/logs/join-host$h.log" | sed 's/^/    /'
      # Join it again alone, so that the later scenarios get their cluster;
      # bring-up still FAILS (all hosts joining at once must work).
      sk "$h" down >/dev/null 2>&1
      sk "$h" join "$addr" --token "$JOIN_TOKEN" --ca-hash "$JOIN_CA_HASH" --node-name "host$h" \
        >"$MH_DIR/logs/join-h$h-retry.out" 2>&1 && log "host $h joined on a second, lone attempt"
    fi
  done
  expect "3 nodes ALIVE" mh_wait_for "[ \$(sk 0 nodes | grep -ciw alive) = 3 ]" 10 0.05 || {
    sk 0 nodes; return 1; }
  local ready=$(( $(mh_now_ms) - t0 ))
  CLUSTER_OK=1
  log "nothing -> 3 nodes ready: $ready ms (target < 3000)"
  echo "FIGURE bringup_ms=$ready"
  [ "$ready" -lt 3000 ] || log "WARNING: bring-up took $ready ms (target < 3000)"
  # A user credential, handed to host 4 out of band.
  if ! cli_has user create -- --out; then skip "waiting on CLI: skein user create"; return; fi
  sk 0 user create alice --out "$(mh_home 0)/alice.conf" >"$MH_DIR/logs/user-create.out" 2>&1 ||
    { log "skein user create failed"; cat "$MH_DIR/logs/user-create.out"; return 1; }
  USER_CFG=$(mh_home 4)/alice.conf
  cp "$(mh_home 0)/alice.conf" "$USER_CFG" && chmod 600 "$USER_CFG"
  expect "host 4 lists the nodes with alice's config" mh_wait_for \
    "[ \$(sku nodes | grep -ciw alive) = 3 ]" 5 || { sku nodes; return 1; }
  [ $bad = 0 ] || { log "FAIL: concurrent joins (see above)"; return 1; }
  return 0
}

# result_line BIN OUTPUT: the example's result line, timings removed.
result_line() {
  local name
  name=$(basename "$1")
  grep -m1 "^$name: .*\(sum\|pi ~\|words\|ints\)" <<<"$2" |
    sed -E 's/ in [0-9.]+ ms//; s/ remotely in [0-9.]+ ms//'
}

# b. The examples, submitted from host 4, give the results of plain local runs,
# and their tasks run on every host.
scenario_examples() {
  need_bringup || return
  [ -n "$USER_CFG" ] || { skip "needs a user config (skein user create)"; return; }
  local spec bin args want got out
  for spec in "dist_skynet --leaves 100000 --tasks 100" "pi_monte_carlo --samples 4000000 --tasks 40" \
      "word_count --words 200000 --shards 16" "merge_sort --n 1000000 --chunks 8"; do
    read -r bin args <<<"$spec"
    [ -x "$EX/$bin" ] || { log "$EX/$bin not built"; return 1; }
    # shellcheck disable=SC2086
    want=$(result_line "$bin" "$(timeout 120 "$EX/$bin" $args 2>&1)")
    # shellcheck disable=SC2086
    out=$(SK_TIMEOUT=180 sku submit --wait "$EX/$bin" -- $args 2>&1)
    local rc=$?
    echo "$out" >"$MH_DIR/logs/submit-$bin.out"
    got=$(result_line "$bin" "$out")
    log "$bin: local  '$want'"
    log "$bin: remote '$got' (exit $rc)"
    [ $rc = 0 ] || { log "submit --wait $bin exited $rc"; tail -5 <<<"$out"; return 1; }
    [ -n "$want" ] && [ "$want" = "$got" ] || { log "$bin: results differ"; return 1; }
    if [ "$bin" = dist_skynet ]; then
      local per nodes n k
      per=$(grep -m1 'tasks per node:' <<<"$out" | sed 's/.*tasks per node://')
      nodes=$(sku nodes)
      n=0
      for k in $per; do
        k=${k%%=*}
        grep -qw -- "$k" <<<"$nodes" || { log "task node $k not in skein nodes"; return 1; }
        n=$((n + 1))
      done
      log "dist_skynet tasks per node:$per"
      expect "tasks on all 3 hosts" [ "$n" -ge 3 ] || return 1
    fi
  done
  return 0
}

# c. Roles: a user cannot manage tokens; a node's credential cannot submit.
scenario_roles() {
  need_bringup || return
  [ -n "$USER_CFG" ] || { skip "needs a user config (skein user create)"; return; }
  cli_has token create || { skip "waiting on CLI: skein token create"; return; }
  local out
  out=$(sku token create 2>&1)
  local rc=$?
  log "user 'token create': exit $rc: $(head -1 <<<"$out")"
  expect "token create denied to a user" [ $rc != 0 ] || return 1
  expect "a permission error (PERMISSION_DENIED / may not)" grep -qi -e permission -e "may not" <<<"$out" || return 1
  # Host 1's node credential (its work dir's pki/) must not submit jobs.
  local pki ncfg
  pki=$(find "$(mh_home 1)" -type d -name pki 2>/dev/null | head -1)
  [ -n "$pki" ] && [ -f "$pki/node.crt" ] && [ -f "$pki/node.key" ] ||
    { log "no pki/node.{crt,key} under host 1's home"; find "$(mh_home 1)" -maxdepth 5; return 1; }
  log "node credential: ${pki#"$MH_DIR"/}/node.crt"
  # alice's config (JSON contexts, PEM embedded) with the node's cert and key.
  ncfg=$(mh_home 4)/node-stolen.conf
  python3 - "$USER_CFG" "$pki/node.crt" "$pki/node.key" "$ncfg" <<'PY' ||
import json, sys
cfg = json.load(open(sys.argv[1]))
for c in cfg["contexts"].values():
    c["cert"] = open(sys.argv[2]).read()
    c["key"] = open(sys.argv[3]).read()
    c["role"] = "node"
json.dump(cfg, open(sys.argv[4], "w"), indent=2)
PY
    { log "cannot build a config from the node's files"; return 1; }
  chmod 600 "$ncfg"
  out=$(sk 4 --config "$ncfg" submit --wait "$EX/dist_skynet" -- --leaves 1000 --tasks 10 2>&1)
  rc=$?
  log "submit with a node credential: exit $rc: $(head -1 <<<"$out")"
  expect "node credential cannot submit" [ $rc != 0 ] || return 1
  expect "a permission error (PERMISSION_DENIED / may not)" grep -qi -e permission -e "may not" <<<"$out" || return 1
  return 0
}

# node_rows NAME: "NODE EPOCH STATE" for each row of `skein nodes --all` (table
# NODE NAME STATE EPOCH ...) whose NAME is NAME; STATE lowercased.
node_rows() {
  sk 0 nodes --all 2>/dev/null | awk -v n="$1" '$2 == n {print $1, $4, tolower($3)}'
}
node_alive_row() { node_rows "$1" | awk '$3 == "alive"' | head -1; }

# ensure_cluster: each of hosts 1-3 has an alive node; a host whose agent was
# lost (by an earlier failed scenario) is joined again, so scenarios do not
# fail in cascade. Says what it repaired.
JOIN_ADDR=()  # per host: the address it joins (host 3 moves to the proxy)
ensure_cluster() {
  local h addr
  for h in 1 2 3; do
    [ -n "$(node_alive_row "host$h")" ] && continue
    addr=${JOIN_ADDR[$h]:-$(mh_ip 0):$PORT}
    log "repair: host $h has no alive node; joining it again via $addr"
    sk "$h" down >/dev/null 2>&1
    sk "$h" join "$addr" --token "$JOIN_TOKEN" --ca-hash "$JOIN_CA_HASH" --node-name "host$h" \
      >>"$MH_DIR/logs/join-h$h-repair.out" 2>&1 || log "repair: join of host $h failed"
  done
  mh_wait_for "[ \$(sk 0 nodes | grep -ciw alive) = 3 ]" 10 0.1 ||
    { log "the cluster is not 3 alive nodes:"; sk 0 nodes --all | sed 's/^/    /'; return 1; }
}

# A long job that needs little CPU: the bed's hosts share one machine's cores,
# and a CPU-bound job starves agents' heartbeats (a false death that would hide
# what a scenario checks). skein_remote_job "retry N MS DIR": 2N tasks spread
# over the nodes, each sleeping MS, retried up to 3 times; prints
# "RESULT retry ok sum=... want=...". Falls back to a large dist_skynet.
RJOB=$BUILD/tests/integration/skein_remote_job
long_job_args() {  # long_job_args SECONDS -> binary and args
  if [ -x "$RJOB" ]; then
    mkdir -p "$MH_DIR/rjob"
    echo "$RJOB retry 30 $(( $1 * 1000 )) $MH_DIR/rjob"
  else
    echo "$EX/dist_skynet --leaves 100000000 --tasks 1000"
  fi
}
long_job_ok() {  # long_job_ok OUTPUT
  grep -q -e '^RESULT retry ok ' -e 'sum 4999999950000000 (expected 4999999950000000)' <<<"$1"
}

# job_pids_on H: processes in host H's namespace other than its agent (task
# workers; nothing else runs there during a scenario).
job_pids_on() {
  local p
  for p in $(ip netns pids "$(mh_ns "$1")"); do
    case $(basename "$(readlink "/proc/$p/exe" 2>/dev/null)") in
      skein-node | skein_lossy_proxy | "") ;;
      *) echo "$p" ;;
    esac
  done
}

# d. Partition host 2 during a job: declared dead within the bound, the job
# still succeeds, host 2 comes back as a new node and its workers are gone.
scenario_partition() {
  need_bringup || return
  [ -n "$MH_PARTITION_METHOD" ] || { skip "neither nft nor iptables installed"; return; }
  [ -n "$USER_CFG" ] || { skip "needs a user config (skein user create)"; return; }
  ensure_cluster || return 1
  local out=$MH_DIR/logs/submit-partition.out bound_ms t0 st=""
  bound_ms=$(( HEARTBEAT_MS * MISS_LIMIT + 1000 ))
  local before driver
  before=$(node_alive_row host2)
  driver=$(node_alive_row host1 | awk '{print $1}')
  [ -n "$before" ] && [ -n "$driver" ] || { log "host1/host2 not alive before the partition"; return 1; }
  # The driver runs on host 1 (a partitioned driver fails its job by design).
  local jb ja
  read -r jb ja <<<"$(long_job_args 20)"
  log "job: ${jb#"$BUILD"/} $ja (driver pinned to $driver = host1)"
  # shellcheck disable=SC2086
  SK_TIMEOUT=300 sku submit --wait --pin "$driver" "$jb" -- $ja >"$out" 2>&1 &
  local job=$!
  expect "workers on host 2" mh_wait_for '[ -n "$(job_pids_on 2)" ]' 20 || return 1
  mh_partition 2 || return 1
  t0=$(mh_now_ms)
  mh_wait_for '[ -z "$(node_alive_row host2)" ]' 10 0.05
  local dt=$(( $(mh_now_ms) - t0 ))
  echo "FIGURE partition_detect_ms=$dt"
  log "host 2 DEAD after $dt ms (bound $bound_ms ms)"
  expect "DEAD within $bound_ms ms" [ "$dt" -le "$bound_ms" ] || { sk 0 nodes --all; return 1; }
  # Self-fencing: the cut-off agent ends its workers once its lease expires.
  t0=$(mh_now_ms)
  if mh_wait_for '[ -z "$(job_pids_on 2)" ]' 15 0.1; then
    log "host 2's workers ended $(( $(mh_now_ms) - t0 )) ms after it was declared dead (still partitioned)"
  else
    log "FAIL: host 2's workers still run 15 s after it was declared dead: $(job_pids_on 2 | tr '\n' ' ')"
    st=fenced_late
  fi
  mh_wait_for "! kill -0 $job" 280 1 || { log "job did not end"; return 1; }
  wait "$job"
  local rc=$?
  log "job: exit $rc: $(grep -m1 -e RESULT -e sum "$out")"
  expect "job succeeds" [ $rc = 0 ] || { tail -5 "$out"; return 1; }
  expect "right result" long_job_ok "$(cat "$out")" || return 1
  mh_heal 2 || return 1
  expect "host 2 alive again" mh_wait_for '[ -n "$(node_alive_row host2)" ]' 20 || return 1
  local after
  after=$(node_alive_row host2)
  log "host 2 before: $before"
  log "host 2 after:  $after"
  expect "a new node (id, epoch) for host 2" [ "${before% *}" != "${after% *}" ] || return 1
  [ -z "$st" ] || return 1
  expect "no stale job workers left on host 2" mh_wait_for '[ -z "$(job_pids_on 2)" ]' 10 || {
    ps -o pid,args -p "$(job_pids_on 2 | tr '\n' ,)0"; return 1; }
  return 0
}

# e. Host 3 behind a 20 ms, 1%-loss link (the proxy in host 0's namespace).
scenario_lossy() {
  need_bringup || return
  [ -x "$PROXY" ] || { skip "$PROXY not built"; return; }
  [ -n "$USER_CFG" ] || { skip "needs a user config (skein user create)"; return; }
  ensure_cluster || return 1
  local h0 token
  h0=$(mh_ip 0)
  mh_spawn 0 "$MH_DIR/logs/proxy-h3.log" "$PROXY" --listen "$h0:$PROXY_PORT" \
    --target "$h0:$PORT" --delay-ms 20 --loss 0.01 --stall-ms 200 >/dev/null
  expect "proxy up" mh_wait_for "mh_tcp_probe 3 $h0 $PROXY_PORT 1" 5 || return 1
  sk 3 down >"$MH_DIR/logs/down-h3.out" 2>&1 || { log "skein down on host 3 failed"; return 1; }
  token=$JOIN_TOKEN
  if cli_has token create; then
    token=$(sk 0 token create 2>/dev/null | grep -o -- '--token [^ ]*' | awk '{print $2}')
    [ -n "$token" ] || token=$(sk 0 token create 2>/dev/null | tail -1 | awk '{print $1}')
  fi
  sk 3 join "$h0:$PROXY_PORT" --token "$token" --ca-hash "$JOIN_CA_HASH" --node-name host3 \
    >"$MH_DIR/logs/join-h3-proxy.out" 2>&1 || { log "join via the proxy failed"; return 1; }
  JOIN_ADDR[3]=$h0:$PROXY_PORT
  expect "host 3's agent talks through the proxy (an established connection to :$PROXY_PORT)" \
    mh_wait_for "mh_exec 3 ss -Htn state established '( dport = :$PROXY_PORT )' | grep -q ." 5 ||
    return 1
  expect "3 nodes ALIVE" mh_wait_for "[ \$(sk 0 nodes | grep -ciw alive) = 3 ]" 20 || return 1
  local out
  out=$(SK_TIMEOUT=300 sku submit --wait "$EX/dist_skynet" -- --leaves 1000000 --tasks 100 2>&1)
  local rc=$?
  log "job over the lossy link: exit $rc: $(grep -m1 sum <<<"$out")"
  log "$(grep -m1 'tasks per node' <<<"$out")"
  expect "job succeeds" [ $rc = 0 ] || return 1
  return 0
}

# f. kill -9 the coordinator mid-job and restart it with the same arguments.
scenario_coord_restart() {
  need_bringup || return
  [ -n "$USER_CFG" ] || { skip "needs a user config (skein user create)"; return; }
  ensure_cluster || return 1
  local out=$MH_DIR/logs/submit-restart.out pid args envs driver jobid jb ja
  driver=$(node_alive_row host1 | awk '{print $1}')
  read -r jb ja <<<"$(long_job_args 15)"
  # No --wait: a CLI following a job exits when the coordinator goes away
  # (RELIABILITY row 3); the job itself must survive the restart.
  # shellcheck disable=SC2086
  jobid=$(sku submit -q --pin "$driver" "$jb" -- $ja 2>"$out")
  [[ $jobid =~ ^[0-9]+$ ]] || { log "submit printed '$jobid'"; cat "$out"; return 1; }
  expect "job $jobid running" mh_wait_for "sku status $jobid | grep -qi running" 20 || return 1
  sleep 1
  pid=$(for p in $(ip netns pids "$(mh_ns 0)"); do
    [ "$(basename "$(readlink "/proc/$p/exe")")" = skein-coordinator ] && echo "$p"; done | head -1)
  [ -n "$pid" ] || { log "no skein-coordinator on host 0"; return 1; }
  local cwd
  cwd=$(readlink "/proc/$pid/cwd")
  mapfile -d '' args <"/proc/$pid/cmdline"
  mapfile -d '' envs <"/proc/$pid/environ"
  kill -9 "$pid"
  log "killed coordinator $pid; restarting: ${args[*]}"
  local t0
  t0=$(mh_now_ms)
  # Same argv, environment (it carries the bed's tag) and cwd.
  (cd "$cwd" && exec ip netns exec "$(mh_ns 0)" env -i "${envs[@]}" "${args[@]}" \
    >"$MH_DIR/logs/coordinator-restarted.log" 2>&1 </dev/null) &
  echo $! >"$MH_DIR/pids/$!"
  # Recovered node records show as alive at once; the agents' own streams
  # reconnecting is what counts ("node N connected" in the new log).
  local rlog=$MH_DIR/logs/coordinator-restarted.log
  expect "the 3 agents reconnect to the restarted coordinator" \
    mh_wait_for "[ \$(grep -c 'node node-[0-9]* connected' $rlog) -ge 3 ]" 30 || return 1
  log "restart -> 3 agents reconnected: $(( $(mh_now_ms) - t0 )) ms"
  echo "FIGURE restart_reconnect_ms=$(( $(mh_now_ms) - t0 ))"
  expect "3 nodes alive" mh_wait_for "[ \$(sk 0 nodes | grep -ciw alive) = 3 ]" 10 || return 1
  expect "job $jobid ends" mh_wait_for "sku status $jobid | grep -qiE 'succeeded|failed|cancel'" 240 1 ||
    return 1
  local st
  st=$(sku status "$jobid" 2>&1)
  log "job $jobid: $(grep -i -m1 -E 'state|succeeded|failed' <<<"$st")"
  expect "job $jobid SUCCEEDED across the restart" grep -qi succeeded <<<"$st" || { echo "$st"; return 1; }
  expect "the right result in its output" mh_wait_for 'long_job_ok "$(sku logs '"$jobid"')"' 10 ||
    return 1
  return 0
}

# g. skein down everywhere; then the bed is removed and nothing is left.
scenario_teardown() {
  need_bringup || return
  local h
  for h in 3 2 1 0; do
    sk "$h" down >"$MH_DIR/logs/down-h$h.out" 2>&1 || log "skein down on host $h: exit $?"
  done
  # Processes the bed started itself (the proxy, a coordinator restarted by
  # coord_restart: not skein up's, so skein down does not know it) are the
  # bed's to stop.
  local left="" p
  for h in 0 1 2 3; do
    for p in $(ip netns pids "$(mh_ns "$h")"); do
      [ -e "$MH_DIR/pids/$p" ] || left+="$p($(basename "$(readlink "/proc/$p/exe")")) "
    done
  done
  expect "no skein process left after skein down: $left" [ -z "$left" ] || return 1
  return 0
}

# ---------------------------------------------------------------- main

ROOT_NET=""
root_net() { ip -o link show | sed 's/ state .*//' | sort; ip -4 route show table all | sort; }
root_net_unchanged() { [ "$(root_net)" = "$ROOT_NET" ]; }

main() {
  ROOT_NET=$(root_net)
  mh_setup "$NHOSTS"
  if [ ! -x "$PROXY" ] && command -v g++ >/dev/null 2>&1; then
    # Not built yet (e.g. run by hand before the build caught up): compile it.
    if g++ -std=c++20 -O2 -Wall -Wextra -pthread "$HERE/lossy_proxy.cpp" -o "$MH_DIR/skein_lossy_proxy" \
        2>"$MH_DIR/logs/proxy-build.log"; then
      mh_log "$PROXY not built; compiled $HERE/lossy_proxy.cpp into $MH_DIR"
      PROXY=$MH_DIR/skein_lossy_proxy
    fi
  fi
  # Watchdog: the whole run is bounded; cleanup runs through the TERM trap.
  # Its sleep holds no descriptor of ours and ends with it (no orphan keeps
  # the caller's pipe open or fires into a reused pid later).
  local main_pid=$$
  (
    sleep "$WATCHDOG_S" </dev/null >/dev/null 2>&1 &
    s=$!
    trap 'kill $s 2>/dev/null; exit 0' TERM
    wait "$s" && { echo "WATCHDOG: run exceeded ${WATCHDOG_S}s" >&2; kill -TERM "$main_pid"; }
  ) &
  local watchdog=$!
  # shellcheck disable=SC2317
  mh_before_cleanup() { kill "$watchdog" 2>/dev/null; }

  run_scenario smoke
  run_scenario proxy
  run_scenario partition_bed
  run_scenario cleanup
  run_scenario bringup
  run_scenario examples
  run_scenario roles
  run_scenario partition
  run_scenario lossy
  run_scenario coord_restart
  run_scenario teardown

  # Remove the bed now and check that nothing of it is left.
  local id=$MH_ID
  mh_cleanup
  if out=$(mh_leftovers "$id"); then
    PASSED=$((PASSED + 1)); echo "PASS bed_removed"
  else
    FAILED=$((FAILED + 1)); echo "FAIL bed_removed"; echo "$out" | sed 's/^/  /'
  fi
  if root_net_unchanged; then
    PASSED=$((PASSED + 1)); echo "PASS root_net_unchanged"
  else
    FAILED=$((FAILED + 1)); echo "FAIL root_net_unchanged"
    diff <(echo "$ROOT_NET") <(root_net) | sed 's/^/  /'
  fi
  if [ "${MH_REQUIRE_ALL:-0}" = 1 ] && [ "$SKIPPED" -gt 0 ]; then
    FAILED=$((FAILED + SKIPPED)); SKIPPED=0
  fi
  echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  [ "$FAILED" = 0 ]
}

main
