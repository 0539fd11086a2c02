#!/usr/bin/env bash
# bench/compare.sh [BUILD_DIR]: runs every scheduler workload on Skein and on Go,
# alternately, and prints the medians side by side as a Markdown table.
#
# Each workload is a pair of programs that print one line
#   RESULT name=<workload> ns=<wall ns> key=value ...
# and exit 1 when their own answer is wrong:
#   Skein: <BUILD_DIR>/bench/sched/<workload>   (from bench/sched/<workload>.cpp)
#   Go:    built here from bench/go/<workload>/main.go
# A workload whose Skein source does not exist yet (the channel workloads wait
# for skein::Chan) still runs its Go side, and the table says why Skein is absent.
#
# Environment:
#   ROUNDS=5          runs per side and workload; the table shows medians
#   P=2               SKEIN_PROCS and GOMAXPROCS for every workload
#   W3_PROCS="1 P"    P values for w3_pingpong (ping-pong is sensitive to P)
#   WORKLOADS="..."   subset to run (default: all eight)
#   RUN_TIMEOUT=120   seconds before one run is killed and counted as failed (a hang)
#   JOBS=2            parallel jobs when (re)building the Skein side
#   SKEIN_REBUILD=1   0 skips `cmake --build` of the Skein targets
#   SOURCE_DESC=...   what BUILD_DIR was built from, for the header (default:
#                     this checkout's HEAD and its uncommitted scheduler/ files)
#   MICRO=0           1 also runs the micro-benchmarks (bench/sched/micro_bench
#                     against bench/go/micro) and prints a second table
#   MICRO_MIN_TIME=1  seconds per micro-benchmark
# Exit status: 0 when every run that was attempted succeeded, 1 otherwise.
set -euo pipefail

die() {
  echo "compare.sh: $*" >&2
  exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
rounds=${ROUNDS:-5}
procs=${P:-2}
w3_procs=${W3_PROCS:-"1 $procs"}
run_timeout=${RUN_TIMEOUT:-120}
jobs=${JOBS:-2}
all_workloads="w1_spawn_join w5_fib w6_parked w2_skynet w3_pingpong w4_fanout w7_timers w8_echo"
workloads=${WORKLOADS:-$all_workloads}

is_positive() { [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0)); }
is_positive "$rounds" || die "ROUNDS must be a positive integer, got '$rounds'"
is_positive "$procs" || die "P must be a positive integer, got '$procs'"
for p in $w3_procs; do
  is_positive "$p" || die "W3_PROCS must list positive integers, got '$w3_procs'"
done
for w in $workloads; do
  [[ " $all_workloads " == *" $w "* ]] || die "unknown workload '$w' (known: $all_workloads)"
done
command -v go >/dev/null || die "go not found (apt-get install golang-go)"
command -v timeout >/dev/null || die "timeout not found (coreutils)"

# ---- the machine -------------------------------------------------------------
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "## Machine"
echo
if [[ -n ${SOURCE_DESC:-} ]]; then
  commit=$SOURCE_DESC
else
  commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$here/.." status --porcelain -- scheduler 2>/dev/null | wc -l)
  if ((dirty > 0)); then
    commit+=" (plus $dirty uncommitted file(s) in scheduler/)"
  fi
fi
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
echo "- nproc: $(nproc); CPU: ${cpu_model:-unknown}"
echo "- kernel: $(uname -sr)"
echo "- $(go version)"
echo "- $(g++ --version | head -n 1)"
echo "- rounds: $rounds per side, alternating; P=$procs (SKEIN_PROCS and GOMAXPROCS); w3 at P in {$w3_procs}"
# The machine may be shared: the load average says how much to trust the figures.
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---- build -------------------------------------------------------------------
# Go binaries go into the build dir when there is one, else a temp dir; never
# into the source tree.
results=$(mktemp)
gobin_is_temp=0
if [[ -d $build ]]; then
  gobin="$build/bench/go"
  mkdir -p "$gobin"
else
  gobin=$(mktemp -d)
  gobin_is_temp=1
fi
cleanup() {
  rm -f "$results"
  if ((gobin_is_temp)); then rm -rf "$gobin"; fi
}
trap cleanup EXIT
gobin=$(cd "$gobin" && pwd)
(cd "$here/go" && GOPROXY=off GOFLAGS='' GO111MODULE=on go build -o "$gobin/" ./...) ||
  die "building the Go programs in $here/go failed"

skein_targets=()
for w in $workloads; do
  [[ -f $here/sched/$w.cpp ]] && skein_targets+=("bench_$w")
done
if ((${#skein_targets[@]} > 0)) && [[ ${SKEIN_REBUILD:-1} != 0 ]]; then
  [[ -f $build/CMakeCache.txt ]] ||
    die "no CMake build in '$build': configure it first (cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)"
  cmake --build "$build" -j"$jobs" --target "${skein_targets[@]}" >/dev/null ||
    die "building ${skein_targets[*]} in $build failed (run: cmake --build $build --target ${skein_targets[*]})"
fi

# ---- run ---------------------------------------------------------------------
failures=0

skein_bin() { echo "$build/bench/sched/$1"; }
has_skein() { [[ -f $here/sched/$1.cpp && -x $(skein_bin "$1") ]]; }

# run_one SIDE WORKLOAD P: runs one program and appends "SIDE P RESULT ..." to $results.
run_one() {
  local side=$1 w=$2 p=$3 bin out err rss rc=0
  if [[ $side == skein ]]; then bin=$(skein_bin "$w"); else bin="$gobin/$w"; fi
  err=$(mktemp)
  rss=$(mktemp)
  if [[ -x /usr/bin/time ]]; then
    out=$(SKEIN_PROCS=$p GOMAXPROCS=$p /usr/bin/time -f '%M' -o "$rss" \
      timeout "$run_timeout" "$bin" 2>"$err") || rc=$?
  else
    out=$(SKEIN_PROCS=$p GOMAXPROCS=$p timeout "$run_timeout" "$bin" 2>"$err") || rc=$?
  fi
  local line max_rss_kb
  line=$(grep -m1 '^RESULT ' <<<"$out" || true)
  max_rss_kb=$(tail -n 1 "$rss" 2>/dev/null || true)
  rm -f "$rss"
  if [[ -n $line && $max_rss_kb =~ ^[0-9]+$ ]]; then
    line+=" max_rss_kb=$max_rss_kb"
  fi
  if ((rc != 0)) || [[ -z $line ]] || [[ $line != *" name=$w "* ]]; then
    failures=$((failures + 1))
    local why="exit status $rc"
    ((rc == 124)) && why="killed after ${run_timeout}s"
    ((rc == 0)) && why="no RESULT line for $w on stdout"
    {
      echo "FAILED: $side $w P=$p ($why); last lines of its stderr:"
      tail -n 5 "$err" | sed 's/^/  | /'
    } >&2
  else
    echo "$side $p $line" >>"$results"
  fi
  rm -f "$err"
}

pairs=()
for w in $workloads; do
  if [[ $w == w3_pingpong ]]; then
    for p in $w3_procs; do pairs+=("$w:$p"); done
  else
    pairs+=("$w:$procs")
  fi
done

for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds ..." >&2
  for pair in "${pairs[@]}"; do
    w=${pair%%:*}
    p=${pair##*:}
    # Alternate which side goes first, so neither always runs on a warmer machine.
    if ((r % 2 == 1)); then order="skein go"; else order="go skein"; fi
    for side in $order; do
      if [[ $side == skein ]] && ! has_skein "$w"; then
        continue
      fi
      run_one "$side" "$w" "$p"
    done
  done
done

# ---- table -------------------------------------------------------------------
# values SIDE WORKLOAD P KEY: one value of KEY per successful run.
values() {
  awk -v side="$1" -v w="$2" -v p="$3" -v key="$4" '
    $1 == side && $2 == p && $0 ~ (" name=" w " ") {
      for (i = 3; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == key) print kv[2]
      }
    }' "$results"
}
median() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print ""; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
minimum() { sort -n | head -n 1; }
ms() { [[ -n $1 ]] && awk -v v="$1" 'BEGIN { printf "%.1f ms", v / 1e6 }' || echo "—"; }
mib() { [[ -n $1 ]] && awk -v kb="$1" 'BEGIN { printf "%.0f MiB", kb / 1024 }' || echo "—"; }
per_op() {
  [[ -n $1 && -n $2 && $2 != 0 ]] && awk -v ns="$1" -v ops="$2" 'BEGIN { printf "%.0f", ns / ops }' || echo "—"
}

echo "## Results (median of $rounds runs; wall time of the workload inside the program)"
echo
echo "| workload | P | skein median | go median | skein/go | skein ns/op | go ns/op | max RSS skein / go | notes |"
echo "|---|---|---|---|---|---|---|---|---|"
for pair in "${pairs[@]}"; do
  w=${pair%%:*}
  p=${pair##*:}
  s_ns=$(values skein "$w" "$p" ns | median)
  g_ns=$(values go "$w" "$p" ns | median)
  s_ops=$(values skein "$w" "$p" ops | median)
  g_ops=$(values go "$w" "$p" ops | median)
  ratio="—"
  if [[ -n $s_ns && -n $g_ns && $g_ns != 0 ]]; then
    ratio=$(awk -v s="$s_ns" -v g="$g_ns" 'BEGIN { printf "%.2f", s / g }')
  fi
  notes=()
  s_runs=$(values skein "$w" "$p" ns | wc -l)
  g_runs=$(values go "$w" "$p" ns | wc -l)
  if [[ ! -f $here/sched/$w.cpp ]]; then
    case $w in
      w2_* | w3_* | w4_*) notes+=("skein: not written yet (bench/sched/$w.cpp, needs skein::Chan)") ;;
      *) notes+=("skein: not written yet (bench/sched/$w.cpp)") ;;
    esac
  elif [[ ! -x $(skein_bin "$w") ]]; then
    notes+=("skein: not built ($(skein_bin "$w") missing)")
  elif ((s_runs < rounds)); then
    notes+=("skein: $s_runs/$rounds runs succeeded")
  fi
  ((g_runs < rounds)) && notes+=("go: $g_runs/$rounds runs succeeded")
  case $w in
    w6_parked)
      s_b=$(values skein "$w" "$p" bytes_per_g | median)
      g_b=$(values go "$w" "$p" bytes_per_g | median)
      notes+=("bytes/parked goroutine: skein ${s_b:-—}, go ${g_b:-—}")
      ;;
    w7_timers)
      s_m=$(values skein "$w" "$p" min_sleep_ns | minimum)
      g_m=$(values go "$w" "$p" min_sleep_ns | minimum)
      notes+=("shortest 10 ms sleep: skein $(ms "${s_m:-}"), go $(ms "${g_m:-}")")
      ;;
  esac
  note_text=""
  for n in "${notes[@]}"; do note_text+="${note_text:+; }$n"; done
  s_rss=$(values skein "$w" "$p" max_rss_kb | median)
  g_rss=$(values go "$w" "$p" max_rss_kb | median)
  echo "| $w | $p | $(ms "$s_ns") | $(ms "$g_ns") | $ratio | $(per_op "$s_ns" "$s_ops") | $(per_op "$g_ns" "$g_ops") | $(mib "${s_rss:-}") / $(mib "${g_rss:-}") | $note_text |"
done
echo
echo "ns/op: w1 per goroutine spawned+joined, w5 per goroutine spawned, w6 per parked goroutine,"
echo "w2 per goroutine in the tree, w3 per round trip, w4 per int sent, w7 per sleeping goroutine."
echo "skein/go < 1 means Skein was faster. max RSS: peak resident memory of the whole process (median)."

# ---- micro-benchmarks (MICRO=1) ----------------------------------------------
# bench/sched/micro_bench (Google Benchmark) against its Go twin bench/go/micro,
# both at P; one run each (Google Benchmark and go test repeat internally).
run_micro() {
  local skein_json go_out
  command -v python3 >/dev/null || die "MICRO=1 needs python3 to read Google Benchmark's JSON"
  if [[ ${SKEIN_REBUILD:-1} != 0 ]]; then
    cmake --build "$build" -j"$jobs" --target bench_micro >/dev/null ||
      die "building bench_micro in $build failed"
  fi
  [[ -x $build/bench/sched/micro_bench ]] || die "$build/bench/sched/micro_bench is missing"
  skein_json=$(mktemp)
  go_out=$(mktemp)
  SKEIN_PROCS=$procs "$build/bench/sched/micro_bench" --benchmark_min_time="${MICRO_MIN_TIME:-1}" \
    --benchmark_out="$skein_json" --benchmark_out_format=json >/dev/null 2>&1 ||
    die "micro_bench failed (run it directly: SKEIN_PROCS=$procs $build/bench/sched/micro_bench)"
  (cd "$here/go" && GOMAXPROCS=$procs GOPROXY=off GOFLAGS='' go test -run '^$' -bench . \
    -benchtime "${MICRO_MIN_TIME:-1}s" ./micro) >"$go_out" 2>&1 ||
    die "go test -bench failed: $(tail -n 3 "$go_out")"
  echo
  echo "## Micro-benchmarks (P=$procs; lower is better)"
  echo
  python3 - "$skein_json" "$go_out" <<'PY'
import json, re, sys

skein = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
go = {}
for line in open(sys.argv[2]):
    m = re.match(r"^(Benchmark\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$", line)
    if m:
        extra = dict((u, float(v)) for v, u in re.findall(r"([\d.]+) (\S+)", m.group(4)))
        go[m.group(1)] = (float(m.group(3)), extra)

def sk(name, counter=None):
    b = skein.get(name + "/real_time")
    if b is None or b.get("error_occurred"):
        return None
    if counter:  # inverted rate counters are seconds per item
        return b[counter] * 1e9 if counter in b else None
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
    return b["real_time"] * scale

def g(name, unit=None):
    if name not in go:
        return None
    per_op, extra = go[name]
    return extra.get(unit) if unit else per_op

rows = [
    ("spawn + join one goroutine (ns)", sk("BM_SpawnJoin"), g("BenchmarkSpawnJoin")),
    ("yield switch, P=1 (ns per switch)", sk("BM_YieldSwitch", "ns_per_switch"),
     g("BenchmarkGoschedSwitch", "ns/switch")),
    ("uncontended mutex lock+unlock (ns)", sk("BM_MutexUncontended"), g("BenchmarkMutexUncontended")),
]
for n in (2, 4, 16):
    rows.append((f"contended mutex, {n} goroutines (ns per lock)",
                 sk(f"BM_MutexContended/{n}", "ns_per_lock"),
                 g(f"BenchmarkMutexContended{n}", "ns/lock")))
fmt = lambda v: "—" if v is None else f"{v:.1f}"
print("| micro-benchmark | skein | go | skein/go |")
print("|---|---|---|---|")
for name, s, gv in rows:
    ratio = "—" if s is None or not gv else f"{s / gv:.2f}"
    print(f"| {name} | {fmt(s)} | {fmt(gv)} | {ratio} |")
PY
  rm -f "$skein_json" "$go_out"
}
if [[ ${MICRO:-0} != 0 ]]; then
  run_micro
fi
echo
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

if ((failures > 0)); then
  echo "compare.sh: $failures run(s) failed; their results are left out of the table" >&2
  exit 1
fi
