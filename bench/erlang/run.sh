#!/usr/bin/env bash
# bench/erlang/run.sh [TASKS] [ROUNDS] [CALLS] [KINDS]: runs remote_spawn.erl between two
# Erlang nodes on this machine and prints its "erlang ..." lines (see the
# module's header for what is measured).
#
# Everything it starts is its own and is stopped by pid at the end: a private
# epmd on a free loopback port (ERL_EPMD_PORT, so any system epmd is left
# alone), the target node, and the driver node. Both nodes use long names on
# 127.0.0.1 and listen for distribution on loopback only
# (inet_dist_use_interface), with a random cookie. Defaults: 200000 5 2000
# request,request_par,spawn4_par,request_win.
# Environment: ERL_TIMEOUT=300 (seconds before the driver is killed: a failure);
# ERL_FLAGS (read by erl itself) reaches both nodes, e.g. emulator flags.
set -euo pipefail

tasks=${1:-200000}
rounds=${2:-5}
calls=${3:-2000}
kinds=${4:-request,request_par,spawn4_par,request_win}
ERL_TIMEOUT=${ERL_TIMEOUT:-300}

die() {
  echo "erlang/run.sh: $*" >&2
  exit 1
}
for tool in erl erlc epmd timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian: erlang-base; deploy/install-deps.sh)"
done

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/skein-erlang-bench.XXXXXX)
epmd_pid=""
target_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  for pid in $target_pid $epmd_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $target_pid $epmd_pid; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

erlc -o "$work" "$here/remote_spawn.erl"

# A private epmd: try random unprivileged ports until one binds.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port=$((20000 + RANDOM % 40000))
  epmd -port "$port" -address 127.0.0.1 </dev/null >"$work/epmd.log" 2>&1 &
  epmd_pid=$!
  for _ in $(seq 50); do
    if epmd -port "$port" -names >/dev/null 2>&1; then
      break 2
    fi
    kill -0 "$epmd_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill "$epmd_pid" 2>/dev/null || true
  wait "$epmd_pid" 2>/dev/null || true
  epmd_pid=""
done
[ -n "$epmd_pid" ] || die "could not start a private epmd"
export ERL_EPMD_PORT=$port

cookie="skein$RANDOM$RANDOM$RANDOM"
tag="$$_$RANDOM"
target="skeinb_${tag}@127.0.0.1"
driver="skeina_${tag}@127.0.0.1"
loopback=(-kernel inet_dist_use_interface '{127,0,0,1}')

erl -name "$target" -setcookie "$cookie" -noinput -pa "$work" "${loopback[@]}" \
  </dev/null >"$work/target.log" 2>&1 &
target_pid=$!
for _ in $(seq 200); do
  if epmd -port "$port" -names 2>/dev/null | grep -q "name skeinb_${tag} "; then
    break
  fi
  kill -0 "$target_pid" 2>/dev/null || die "target node exited: $(cat "$work/target.log")"
  sleep 0.05
done
epmd -port "$port" -names 2>/dev/null | grep -q "name skeinb_${tag} " ||
  die "target node did not register with epmd"

timeout "$ERL_TIMEOUT" erl -name "$driver" -setcookie "$cookie" -noinput -pa "$work" \
  "${loopback[@]}" -run remote_spawn main "$target" "$tasks" "$rounds" "$calls" "$kinds" </dev/null
