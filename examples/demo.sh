#!/usr/bin/env bash
# make demo: the real cluster path on this machine.
#   1. skein up --nodes 3      coordinator + 3 node agents on 127.0.0.1 (temp state dir)
#   2. skein submit JOB        upload the binary (SHA-256 checked), run it on a node
#   3. skein stats             live per-node scheduler numbers while it runs
#   4. skein logs --follow     the job's output, then its final status
#   5. skein submit --wait     dist_skynet: 100 remote tasks spread over the 3 nodes
#   6. skein down              always, also on failure or Ctrl-C (trap)
set -euo pipefail
build=${1:-build}
skein="$build/cli/skein"
for bin in "$skein" "$build/coordinator/skein-coordinator" "$build/node/skein-node"; do
  if [ ! -x "$bin" ]; then
    echo "demo: $bin is missing; build first (make build)" >&2
    exit 1
  fi
done

# The job: an example linked with libskein (reports scheduler stats to its
# agent); fall back to the integration-test job, then to plain fib.
if [ -x "$build/examples/cluster_hello" ]; then
  job=("$build/examples/cluster_hello" 4)
  local_run=("$build/examples/cluster_hello" 1)
elif [ -x "$build/tests/integration/skein_test_job" ]; then
  job=("$build/tests/integration/skein_test_job" work 4)
  local_run=("$build/tests/integration/skein_test_job" work 1)
else
  job=("$build/examples/fib" 30)
  local_run=("$build/examples/fib" 25)
fi

state=$(mktemp -d /tmp/skein-demo.XXXXXX)
sk() { "$skein" --state-dir "$state" "$@"; }
cleanup() {
  echo
  echo "== skein down"
  sk down || true
  rm -rf "$state"
}
trap cleanup EXIT

echo "== the same job binary, run directly (local scheduler, no cluster)"
"${local_run[@]}"
echo
echo "== skein up --nodes 3"
sk up --listen 127.0.0.1:0 --nodes 3
sk nodes
echo
echo "== skein submit ${job[*]}"
id=$(sk submit "${job[0]}" -- "${job[@]:1}")
# Rates need two stats samples of the job (workers report about once a second).
sleep 2
echo
echo "== skein stats (while job $id runs)"
sk stats
echo
echo "== skein logs $id --follow"
sk logs "$id" --follow
echo
echo "== skein status $id"
sk status "$id"
echo
echo "== skein jobs"
sk jobs

if [ -x "$build/examples/dist_skynet" ]; then
  echo
  echo "== skein submit --wait dist_skynet (remote tasks spread over the nodes)"
  sk submit --wait "$build/examples/dist_skynet" -- --leaves 1000000 --tasks 100
  echo
  echo "== skein stats (job ended: its task workers on every node ended with it)"
  sk stats
fi
