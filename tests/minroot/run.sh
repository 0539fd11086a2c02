#!/usr/bin/env bash
# A job binary on a node that has only Skein's runtime (issue 10): a bare
# Debian 12 root file system (debootstrap --variant=minbase, the package set
# of the debian:12 images: libc6, libstdc++6, apt, no -dev package, no
# protobuf, Abseil or Boost), and example jobs run in it with chroot.
#
#   bash tests/minroot/run.sh BUILD_DIR
#
# Checks, each printed as PASS or FAIL:
# 1. the root holds none of the build's -dev packages or SDK libraries (the
#    point: if it did, the jobs could load them);
# 2. every job binary of the build tree needs only libc6 (ldd: libc, libm,
#    ld-linux; libpthread, libdl, librt are libc6 too), by ldd inside the
#    root, where a missing library shows up as "not found";
# 3. the examples run there directly (local mode, no cluster): dist_skynet
#    and pi_monte_carlo with their results checked, and the others must
#    exit 0;
# 4. deploy/Containerfile's runtime stage: every package that owns a shared
#    library the three daemons load (ldd + dpkg -S on this machine) is in the
#    stage's apt-get install list or in the minbase set (debian:12-slim is
#    built the same way); the list's other packages are printed as a NOTE.
# Exit 0 all passed, 1 a check failed, 77 skipped (not root, no debootstrap
# or chroot, Debian's archive unreachable and no cached root), 2 usage.
#
# The root is made once and cached as a tar of the finished tree:
#   ${SKEIN_MINROOT_CACHE:-/var/cache/skein-minroot}/bookworm-minbase.tar
# (~60 MB of downloads, ~1-2 minutes; delete the file to remake it). Each run
# unpacks it into a temp dir, so nothing a job does outlives the run. The
# mirror is the one apt uses here (/etc/apt/sources.list.d/*.sources or
# /etc/apt/sources.list; SKEIN_MINROOT_MIRROR overrides it); nothing is
# downloaded from anywhere else. The only
# mount is /proc in the root (the scheduler reads /proc/self); the trap
# unmounts it and removes the temp dir on every exit, and refuses to remove a
# dir that still has a mount under it.
set -uo pipefail

SUITE=bookworm
CACHE_DIR=${SKEIN_MINROOT_CACHE:-/var/cache/skein-minroot}
TARBALL=$CACHE_DIR/$SUITE-minbase.tar
RUN_TIMEOUT=60   # seconds per job run; each takes well under one

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: run.sh BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || skip "debootstrap is not installed (deploy/install-deps.sh)"
command -v chroot >/dev/null || skip "chroot is not installed"

FAILED=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILED=1; }

cleanup_mounts_under() {
  local m
  # Deepest first; -l only when a plain umount fails (a job left behind).
  for m in $(awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}
# remove_tmp DIR: unmount what is under DIR, then delete it, never through a
# mount that is still there.
remove_tmp() {
  cleanup_mounts_under "$1"
  if awk -v p="$1/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    echo "minroot: mounts remain under $1; not removing it" >&2
    return
  fi
  rm -rf --one-file-system "$1"
}
TMP=""
cleanup() { [ -z "$TMP" ] || remove_tmp "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# A run killed with SIGKILL (ctest's timeout) cannot clean up: its successor
# does, for every temp dir whose run is gone.
for stale in /var/tmp/skein-minroot.*; do
  [ -f "$stale/pid" ] || continue
  kill -0 "$(cat "$stale/pid")" 2>/dev/null || remove_tmp "$stale"
done
TMP=$(mktemp -d /var/tmp/skein-minroot.XXXXXX) || exit 1
echo $$ >"$TMP/pid"
ROOT=$TMP/root

# The mirror apt uses for $SUITE: deb822 .sources first, then one-line lists.
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0 }
      /^[ \t]*$/ { flush(); next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      /^Types:/ { deb = 0; for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1; if (!deb) ok = -99 }
      END { flush() }' "$f"
  done | head -n 1 | grep . && return
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk -v suite="$SUITE" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit } }'
}

# A URL fetched with whatever this machine has (curl, wget, or python3).
reachable() {
  local url=$1
  if command -v curl >/dev/null; then
    curl -fsS -m 20 -o /dev/null "$url"
  elif command -v wget >/dev/null; then
    wget -q -T 20 -O /dev/null "$url"
  else
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=20).read()' "$url"
  fi
}

make_root() {
  local mirror t0 work
  mirror=${SKEIN_MINROOT_MIRROR:-$(find_mirror)}
  [ -n "$mirror" ] || skip "no apt source for $SUITE in /etc/apt (needed to make the root once)"
  reachable "$mirror/dists/$SUITE/Release" 2>/dev/null ||
    skip "Debian's archive ($mirror) cannot be reached and $TARBALL does not exist"
  echo "minroot: debootstrap --variant=minbase $SUITE from $mirror (once; cached in $TARBALL)"
  t0=$(date +%s)
  work=$TMP/bootstrap
  if ! debootstrap --variant=minbase "$SUITE" "$work" "$mirror" >"$TMP/debootstrap.log" 2>&1; then
    tail -n 20 "$TMP/debootstrap.log"
    # A failed download is the network, not Skein: skip. Anything else fails.
    if grep -qE "Failed getting release file|Couldn't download|couldn't download" "$TMP/debootstrap.log"; then
      skip "debootstrap could not download from $mirror"
    fi
    echo "FAIL: debootstrap failed (log above)"
    exit 1
  fi
  # Unmount whatever debootstrap left mounted before taring the tree.
  cleanup_mounts_under "$work"
  mkdir -p "$CACHE_DIR"
  tar --numeric-owner -C "$work" -cf "$TARBALL.tmp.$$" . && mv -f "$TARBALL.tmp.$$" "$TARBALL"
  rm -rf --one-file-system "$work"
  echo "minroot: root made in $(($(date +%s) - t0)) s, $(du -m "$TARBALL" | cut -f1) MB"
}

[ -f "$BUILD/skein_jobs.txt" ] || { echo "FAIL: no $BUILD/skein_jobs.txt (configure the build)"; exit 1; }
grep -qx 'static_deps=ON' "$BUILD/skein_jobs.txt" ||
  skip "this build links jobs' libraries shared (SKEIN_STATIC_JOB_DEPS=OFF or SKEIN_SANITIZE)"
[ -f "$TARBALL" ] || make_root
mkdir -p "$ROOT"
tar --numeric-owner -C "$ROOT" -xf "$TARBALL" || { echo "FAIL: cannot unpack $TARBALL"; exit 1; }
mount -t proc proc "$ROOT/proc" || { echo "FAIL: cannot mount /proc in the root"; exit 1; }

# 1. Nothing of the build machine's -dev packages or the SDK's libraries.
dev_pkgs=$(chroot "$ROOT" dpkg-query -W -f '${Package}\n' | grep -E -- '-dev$|^libprotobuf|^libabsl|^libboost|^libgrpc|^libcereal' | tr '\n' ' ')
leftover=""
for p in usr/include/google/protobuf usr/include/absl usr/include/boost usr/include/c++; do
  [ -e "$ROOT/$p" ] && leftover+=" /$p"
done
for pat in 'libprotobuf*' 'libabsl_*' 'libboost_context*' 'libgrpc*'; do
  found=$(find "$ROOT/usr/lib" "$ROOT/lib" -name "$pat" 2>/dev/null | head -n 1)
  [ -n "$found" ] && leftover+=" ${found#"$ROOT"}"
done
if [ -z "$dev_pkgs" ] && [ -z "$leftover" ]; then
  pass "the root has $(chroot "$ROOT" dpkg-query -W -f '.\n' | wc -l) packages, no -dev package, no protobuf/Abseil/Boost/gRPC"
else
  fail "the root is not bare: packages [$dev_pkgs] files [$leftover]"
fi

# 2. The job binaries of this build need only libc6. skein_jobs.txt lists
# every target marked skein_job() (cmake/SkeinHelpers.cmake).
mapfile -t JOBS < <(grep '^/' "$BUILD/skein_jobs.txt")
LIBC6='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2)$'
mkdir -p "$ROOT/opt/skein"
checked=0
ldd_failed=0
unbuilt=()
for j in "${JOBS[@]}"; do
  if [ ! -x "$j" ]; then
    unbuilt+=("${j#"$BUILD"/}")
    continue
  fi
  name=$(basename "$j")
  cp "$j" "$ROOT/opt/skein/$name"
  out=$(chroot "$ROOT" ldd "/opt/skein/$name" 2>&1)
  bad=$(echo "$out" | awk '{ print $1 }' | grep -vE "$LIBC6")
  if echo "$out" | grep -q "not found" || [ -n "$bad" ]; then
    fail "${j#"$BUILD"/} needs more than libc6:"
    echo "$out" | sed 's/^/    /'
    ldd_failed=$((ldd_failed + 1))
  fi
  checked=$((checked + 1))
done
if [ "$checked" -eq 0 ]; then
  fail "no job binary in $BUILD (build examples/ first)"
elif [ "$ldd_failed" -eq 0 ]; then
  pass "ldd in the root: $checked job binaries need only libc6 (libc, libm, ld-linux)"
fi
[ ${#unbuilt[@]} -eq 0 ] || echo "NOTE: not built, not checked: ${unbuilt[*]}"

# 3. The examples run in the root.
# run_job NAME REGEX ARGS...: exit 0 and a stdout line matching REGEX.
run_job() {
  local name=$1 regex=$2 out rc
  shift 2
  if [ ! -x "$ROOT/opt/skein/$name" ]; then
    fail "$name is not built"
    return
  fi
  out=$(timeout "$RUN_TIMEOUT" chroot "$ROOT" "/opt/skein/$name" "$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && echo "$out" | grep -qE "$regex"; then
    pass "chroot $name $*: $(echo "$out" | grep -E "$regex" | head -n 1)"
  else
    fail "chroot $name $* (exit $rc):"
    echo "$out" | tail -n 20 | sed 's/^/    /'
  fi
}
run_job dist_skynet '^dist_skynet: 100000 leaves in 100 remote tasks: sum 4999950000 \(expected 4999950000\)' \
  --leaves 100000
run_job pi_monte_carlo '^pi_monte_carlo: 2000000 samples in 8 remote tasks: pi ~ 3\.1[0-9]+ \(\|error\| 0\.00[0-9]+\)' \
  --samples 2000000 --tasks 8
run_job word_count 'matches the single-threaded count'
run_job merge_sort '^merge_sort: .* sorted=yes count=ok checksum=ok'
run_job fib '^fib\([0-9]+\) = [0-9]+'
run_job spawn_join '^sum = ([0-9]+) \(expected \1\)'

# 4. The Containerfile's runtime packages cover what the daemons load.
containerfile=$SRC/deploy/Containerfile
daemons=(coordinator/skein-coordinator node/skein-node cli/skein)
runtime_pkgs=$(awk '
    /^FROM .* AS runtime/ { rt = 1; next }
    /^FROM / { rt = 0 }
    rt && /apt-get install/ { inst = 1 }
    rt && inst {
      for (i = 1; i <= NF; i++) if ($i ~ /^[a-z0-9][a-z0-9.+-]+$/ && $i != "apt-get" && $i != "install" && $i != "rm") print $i
      if ($0 ~ /&& rm|[^\\]$/) inst = 0
    }' "$containerfile" | grep -vE '^(update|rf|y|no-install-recommends)$' | sort -u)
base_pkgs=$(chroot "$ROOT" dpkg-query -W -f '${Package}\n' | sort -u)
if [ -z "$runtime_pkgs" ]; then
  fail "no apt-get install list in the runtime stage of $containerfile"
fi
needed=""
missing_daemon=0
for d in "${daemons[@]}"; do
  if [ ! -x "$BUILD/$d" ]; then
    echo "NOTE: $d is not built; its libraries are not checked"
    missing_daemon=1
    continue
  fi
  for lib in $(ldd "$BUILD/$d" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
    owner=""
    for path in "$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr$lib"; do
      owner=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$owner" ] && break
    done
    if [ -z "$owner" ]; then
      fail "$d loads $lib, which no Debian package owns"
      continue
    fi
    needed+="$owner"$'\n'
  done
done
needed=$(echo "$needed" | grep . | sort -u)

# What `apt-get install` of the list brings: the list and its Depends and
# Pre-Depends, recursively (first alternative), read from this machine's dpkg
# database, where every runtime library of the build is installed.
declare -A brought=()
mapfile -t queue <<<"$runtime_pkgs"
while [ ${#queue[@]} -gt 0 ]; do
  p=${queue[0]}
  queue=("${queue[@]:1}")
  [ -n "${brought[$p]:-}" ] && continue
  brought[$p]=1
  deps=$(dpkg-query -W -f '${Depends}, ${Pre-Depends}' "$p" 2>/dev/null) || continue
  for d in $(echo "$deps" | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | grep .); do
    [ -n "${brought[$d]:-}" ] || queue+=("$d")
  done
done
installed=$(printf '%s\n' "${!brought[@]}" | sort -u)
uncovered=$(comm -23 <(echo "$needed") <(printf '%s\n%s\n' "$installed" "$base_pkgs" | sort -u))
if [ -n "$needed" ] && [ -z "$uncovered" ]; then
  pass "Containerfile runtime stage: the $(echo "$needed" | wc -l) packages the daemons' libraries come from are in its list, its dependencies or minbase"
elif [ -n "$uncovered" ]; then
  fail "the daemons load libraries from packages the Containerfile's runtime stage does not install: $(echo $uncovered)"
fi
if [ "$missing_daemon" -eq 0 ]; then
  indirect=$(comm -12 <(echo "$needed") <(comm -23 <(echo "$installed") <(echo "$runtime_pkgs")) |
             comm -23 - <(echo "$base_pkgs"))
  extra=$(comm -13 <(echo "$needed") <(echo "$runtime_pkgs"))
  [ -z "$indirect" ] || echo "NOTE: the daemons also load $(echo $indirect), which the image gets as dependencies of its list, not by name"
  [ -z "$extra" ] || echo "NOTE: the image's list also names $(echo $extra), which no daemon loads directly (dependencies or data)"
fi

exit $FAILED
