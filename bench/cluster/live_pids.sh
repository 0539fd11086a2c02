# Sourced by the cluster bench scripts (bash).
#
# live_pids STATE: "name pid" for each pidfile under STATE/pids whose process
# is still the one `skein up` started there (same start time, command line
# naming STATE), so cleanup never signals a recycled pid.
live_pids() {
  local state=$1 f pid start stat rest cmdline
  local -a fields
  for f in "$state"/pids/*.pid; do
    [ -f "$f" ] || continue
    { read -r pid && read -r start; } <"$f" || continue
    [[ $pid =~ ^[0-9]+$ ]] || continue
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    read -ra fields <<<"$rest"
    [ "${fields[19]}" = "$start" ] || continue
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $cmdline == *"$state"* ]] || continue
    echo "$(basename "$f" .pid) $pid"
  done
}
