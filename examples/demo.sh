#!/usr/bin/env bash
# make demo: runs the example jobs on the local scheduler and shows their stats.
set -euo pipefail
build=${1:-build}
echo "== spawn_join: 1,000,000 goroutines joined by a WaitGroup =="
"$build/examples/spawn_join"
echo
echo "== fib: fork-join fib(27), one goroutine per call =="
"$build/examples/fib" 27
