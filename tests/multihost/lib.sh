# shellcheck shell=bash
# Multi-host test bed: "hosts" made of network namespaces on this machine.
#
#   source tests/multihost/lib.sh
#   mh_setup 5            # hosts 0..4 + a switch namespace; cleanup on EXIT/INT/TERM
#   mh_exec 0 ip addr     # run a command "on" host 0 (own netns, own HOME)
#
# Layout (nothing is created in, or changed on, the root namespace's network):
#   skmh-<id>-sw   the switch: bridge br0 (10.231.<x>.254/24), ports h0..h<N-1>
#   skmh-<id>-hH   host H: lo up, eth0 = 10.231.<x>.<H+1>/24 (peer of port hH)
# Every veth pair is created inside the switch namespace with its peer moved
# straight into the host namespace, so the root namespace never holds a link.
#
# Each host has its own HOME ($MH_DIR/hH): its own ~/.skein state dir, binary
# cache and logs. Processes the bed starts carry SKMH_RUNID=<id> in their
# environment; cleanup kills every process that is in one of the bed's
# namespaces (`ip netns pids`), in a pid file of the bed, or that carries the
# tag, then unmounts what the bed mounted, deletes the namespaces (their veths
# go with them) and removes $MH_DIR. It runs on EXIT, INT and TERM, so also
# when a scenario fails midway.
#
# Without root or without working `ip netns add` (or bridge/veth support) the
# bed prints ONE line "SKIP: network namespaces unavailable (<reason>)" and
# exits 77 (ctest SKIP_RETURN_CODE).

MH_SKIP_CODE=77
MH_ID=""          # run id: 5 hex digits, unique per invocation
MH_NET=""         # 10.231.<x>
MH_DIR=""         # temp dir: homes, pid files, logs
MH_HOSTS=0        # number of hosts (for scenarios)
export MH_HOSTS
MH_NETNS=()       # namespaces this bed made
MH_MOUNTS=()      # mount points this bed mounted
MH_CLEANED=0
MH_PARTITION_METHOD=""  # nft-netdev | iptables

mh_log() { printf '[mh %s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }

mh_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

mh_skip() {
  echo "SKIP: network namespaces unavailable ($*)"
  exit "$MH_SKIP_CODE"
}

mh_ns() {  # mh_ns H|sw -> namespace name
  if [ "$1" = sw ]; then echo "skmh-$MH_ID-sw"; else echo "skmh-$MH_ID-h$1"; fi
}

mh_ip() {  # mh_ip H|sw -> the host's address on the bed's LAN
  if [ "$1" = sw ]; then echo "$MH_NET.254"; else echo "$MH_NET.$(( $1 + 1 ))"; fi
}

mh_home() { if [ "$1" = sw ]; then echo "$MH_DIR/sw"; else echo "$MH_DIR/h$1"; fi; }

# mh_exec H cmd...: run cmd in host H's namespace with HOME=$MH_DIR/hH and the
# bed's tag; SKEIN_* variables of the caller are dropped so that nothing but
# the network is shared between hosts.
mh_exec() {
  local h=$1
  shift
  ip netns exec "$(mh_ns "$h")" env -u SKEIN_STATE_DIR -u SKEIN_COORDINATOR \
    -u SKEIN_TOKEN_FILE -u SKEIN_CONFIG HOME="$(mh_home "$h")" SKMH_RUNID="$MH_ID" \
    SKMH_HOST="$h" "$@"
}

# mh_spawn H LOGFILE cmd...: start cmd in the background on host H, output to
# LOGFILE; records its pid in a pid file of the bed and prints the pid (the
# pid of cmd itself: ip netns exec and env exec into it).
mh_spawn() {
  local h=$1 log=$2
  shift 2
  ip netns exec "$(mh_ns "$h")" env -u SKEIN_STATE_DIR -u SKEIN_COORDINATOR \
    -u SKEIN_TOKEN_FILE -u SKEIN_CONFIG HOME="$(mh_home "$h")" SKMH_RUNID="$MH_ID" \
    SKMH_HOST="$h" "$@" >"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$MH_DIR/pids/$pid"
  echo "$pid"
}

# mh_wait_for 'command string' TIMEOUT_S [INTERVAL_S]: polls until the command
# succeeds (0) or TIMEOUT_S (may be fractional) passes (1).
mh_wait_for() {
  local cmd=$1 timeout=$2 interval=${3:-0.1}
  local deadline=$(( $(mh_now_ms) + ${timeout%.*} * 1000 ))
  if [[ $timeout == *.* ]]; then
    local frac=${timeout#*.}000
    deadline=$(( deadline + 10#${frac:0:3} ))
  fi
  while :; do
    if eval "$cmd" >/dev/null 2>&1; then return 0; fi
    if [ "$(mh_now_ms)" -ge "$deadline" ]; then return 1; fi
    sleep "$interval"
  done
}

# mh_tcp_probe H IP PORT [TIMEOUT_S]: one bounded TCP connect from host H.
mh_tcp_probe() {
  local h=$1 ip=$2 port=$3 t=${4:-2}
  mh_exec "$h" timeout "$t" bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null
}

mh_setup() {
  local n=$1
  if [ "$(id -u)" != 0 ]; then mh_skip "not root"; fi
  command -v ip >/dev/null 2>&1 || mh_skip "ip (iproute2) not installed"
  MH_ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-5)
  MH_NET="10.231.$(( 0x${MH_ID:0:2} % 250 + 1 ))"
  MH_DIR=$(mktemp -d "/tmp/skmh-$MH_ID.XXXXXX")
  mkdir -p "$MH_DIR/pids" "$MH_DIR/logs"
  MH_HOSTS=$n
  trap mh_cleanup EXIT
  trap 'mh_cleanup; trap - INT; kill -INT $$' INT
  trap 'mh_cleanup; trap - TERM; kill -TERM $$' TERM

  local sw err
  sw=$(mh_ns sw)
  if ! err=$(ip netns add "$sw" 2>&1); then
    mh_skip "ip netns add: ${err//$'\n'/ }"
  fi
  MH_NETNS+=("$sw")
  mkdir -p "$(mh_home sw)"
  if ! err=$( { ip -n "$sw" link set lo up &&
                ip -n "$sw" link add br0 type bridge &&
                ip -n "$sw" addr add "$(mh_ip sw)/24" dev br0 &&
                ip -n "$sw" link set br0 up; } 2>&1); then
    mh_skip "bridge in a namespace: ${err//$'\n'/ }"
  fi
  local h ns
  for (( h = 0; h < n; h++ )); do
    ns=$(mh_ns "$h")
    if ! err=$(ip netns add "$ns" 2>&1); then mh_skip "ip netns add: ${err//$'\n'/ }"; fi
    MH_NETNS+=("$ns")
    mkdir -p "$(mh_home "$h")"
    if ! err=$( { ip -n "$ns" link set lo up &&
                  ip -n "$sw" link add "h$h" type veth peer name eth0 netns "$ns" &&
                  ip -n "$sw" link set "h$h" master br0 &&
                  ip -n "$sw" link set "h$h" up &&
                  ip -n "$ns" addr add "$(mh_ip "$h")/24" dev eth0 &&
                  ip -n "$ns" link set eth0 up; } 2>&1); then
      mh_skip "veth into a namespace: ${err//$'\n'/ }"
    fi
  done
  if command -v nft >/dev/null 2>&1; then
    MH_PARTITION_METHOD=nft-netdev
  elif command -v iptables >/dev/null 2>&1; then
    MH_PARTITION_METHOD=iptables
  fi
  # The bridge forwards once its ports leave the learning/forwarding delay
  # (0 s with STP off, the default); wait until host 0 reaches the switch.
  mh_log "bed $MH_ID: $n hosts on $MH_NET.0/24 (switch $(mh_ip sw)), dir $MH_DIR"
}

# mh_partition H: drop every packet of host H on its eth0, both directions,
# silently (nftables netdev ingress + egress hooks inside H's namespace: a
# dropped packet is simply lost, TCP retransmits and hangs, nobody gets a
# reset or an error). Loopback inside H keeps working. Fallback: iptables
# INPUT/OUTPUT DROP (local senders on H then see EPERM; peers see silence).
mh_partition() {
  local ns
  ns=$(mh_ns "$1")
  case $MH_PARTITION_METHOD in
    nft-netdev)
      ip netns exec "$ns" nft -f - <<EOF
table netdev skmh_part {
  chain in { type filter hook ingress device "eth0" priority -500; policy drop; }
  chain out { type filter hook egress device "eth0" priority -500; policy drop; }
}
EOF
      ;;
    iptables)
      ip netns exec "$ns" iptables -w -I INPUT -i eth0 -j DROP &&
        ip netns exec "$ns" iptables -w -I OUTPUT -o eth0 -j DROP
      ;;
    *) echo "mh_partition: neither nft nor iptables is installed" >&2; return 1 ;;
  esac
}

mh_heal() {
  local ns
  ns=$(mh_ns "$1")
  case $MH_PARTITION_METHOD in
    nft-netdev) ip netns exec "$ns" nft delete table netdev skmh_part ;;
    iptables)
      ip netns exec "$ns" iptables -w -D INPUT -i eth0 -j DROP &&
        ip netns exec "$ns" iptables -w -D OUTPUT -o eth0 -j DROP
      ;;
    *) return 1 ;;
  esac
}

# mh_mount_tmpfs DIR SIZE: a small tmpfs (e.g. a host's work dir for a
# disk-full scenario); unmounted by cleanup.
mh_mount_tmpfs() {
  mkdir -p "$1" && mount -t tmpfs -o "size=$2" skmh-tmpfs "$1" && MH_MOUNTS+=("$1")
}

# mh_tagged_pids ID: processes whose environment carries SKMH_RUNID=ID.
mh_tagged_pids() {
  local f
  for f in /proc/[0-9]*/environ; do
    if grep -qzx "SKMH_RUNID=$1" "$f" 2>/dev/null; then
      f=${f#/proc/}
      echo "${f%/environ}"
    fi
  done
}

# Every process that belongs to the bed: pid files, members of its
# namespaces, and anything tagged SKMH_RUNID=<id> (descendants that moved to
# another namespace keep the tag unless their environment was cleared).
mh_bed_pids() {
  [ -n "$MH_ID" ] || return 0
  {
    local f ns p
    for f in "$MH_DIR"/pids/*; do
      [ -e "$f" ] || continue
      p=$(cat "$f" 2>/dev/null)
      [ -n "$p" ] && [ -d "/proc/$p" ] && echo "$p"
    done
    for ns in $(ip netns list 2>/dev/null | awk -v p="skmh-$MH_ID-" 'index($1, p) == 1 {print $1}'); do
      ip netns pids "$ns" 2>/dev/null
    done
    mh_tagged_pids "$MH_ID"
  } | sort -un | grep -vx -e "$$" -e "${BASHPID:-$$}" || true
}

mh_kill_all() {
  local round pids
  for round in 1 2 3 4 5 6; do
    pids=$(mh_bed_pids)
    [ -z "$pids" ] && return 0
    if [ "$round" -le 2 ]; then
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null
      mh_wait_for '[ -z "$(mh_bed_pids)" ]' 3 0.1 && return 0
    else
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null
      mh_wait_for '[ -z "$(mh_bed_pids)" ]' 2 0.1 && return 0
    fi
  done
  [ -z "$(mh_bed_pids)" ]
}

# mh_leftovers: prints what of the bed is still there; 0 when nothing.
mh_leftovers() {
  local id=${1:-$MH_ID} left=0 ns p
  for ns in $(ip netns list 2>/dev/null | awk -v p="skmh-$id-" 'index($1, p) == 1 {print $1}'); do
    echo "leftover namespace: $ns"
    left=1
  done
  for p in $(mh_tagged_pids "$id"); do
    echo "leftover process: $p $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")"
    left=1
  done
  if grep -q "skmh-$id" /proc/mounts 2>/dev/null; then
    grep "skmh-$id" /proc/mounts | sed 's/^/leftover mount: /'
    left=1
  fi
  for p in /tmp/skmh-"$id".*; do
    if [ -e "$p" ]; then echo "leftover dir: $p"; left=1; fi
  done
  return $left
}

mh_cleanup() {
  local rc=$?
  set +e  # a trap under the caller's set -e must not stop halfway
  [ "$MH_CLEANED" = 1 ] && return "$rc"
  MH_CLEANED=1
  [ -n "$MH_ID" ] || return "$rc"
  if declare -F mh_before_cleanup >/dev/null; then mh_before_cleanup || true; fi
  mh_kill_all || mh_log "cleanup: processes survived SIGKILL: $(mh_bed_pids | tr '\n' ' ')"
  local i m ns
  for (( i = ${#MH_MOUNTS[@]} - 1; i >= 0; i-- )); do
    m=${MH_MOUNTS[$i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || mh_log "cleanup: cannot unmount $m"
  done
  # Unmount anything else below the bed's dir (e.g. mounted by a scenario).
  awk -v d="$MH_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts 2>/dev/null | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  for ns in $(ip netns list 2>/dev/null | awk -v p="skmh-$MH_ID-" 'index($1, p) == 1 {print $1}') \
      "${MH_NETNS[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  if [ -n "${MH_KEEP_LOGS:-}" ]; then  # logs and per-host state (homes), for debugging
    mkdir -p "$MH_KEEP_LOGS/skmh-$MH_ID" &&
      cp -r "$MH_DIR"/. "$MH_KEEP_LOGS/skmh-$MH_ID/" 2>/dev/null
  fi
  case $MH_DIR in /tmp/skmh-*) rm -rf "$MH_DIR" ;; esac
  return "$rc"
}
