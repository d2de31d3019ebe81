# script_lib.sh: process handling shared by the comparison scripts
# (compare_reactor.sh, compare_fiber.sh, compare_nginx.sh). Sourced after the script has set
# TMP (its scratch folder), SERVER_CPU and die(); PRIO may hold a prefix
# command such as (nice -n -15). Every process started through start_server
# is stopped and reaped on exit; KEEP_TMP=1 keeps the scratch folder.
PIDS=()
PRIO=("${PRIO[@]}")

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n ${KEEP_TMP:-} ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=harness/server_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../harness/server_lib.sh"

# Starts bench_server ("$@": its options, without --port) pinned to the
# server CPU on --port 0 and reads the port from its listening line: no
# window between choosing a port and binding it. Sets START_PID and PORT.
start_bench_server() {
  local out="$TMP/server.$RANDOM.out"
  "${PRIO[@]}" taskset -c "$SERVER_CPU" "$@" --port 0 >"$out" 2>>"$TMP/servers.log" &
  START_PID=$!
  PIDS+=("$START_PID")
  PORT=$(cb_wait_port "$out" "$START_PID") || die "bench_server did not start: $(cat "$out")"
}

# For peers without a port-0 mode (Asio, Go, nginx): a port that was free a
# moment ago. Another process may take it first; wait_listening then fails.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (at most 10 s) until something accepts on 127.0.0.1:$1.
wait_listening() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "nothing listens on port $1"
}

# Starts "$@" pinned to the server CPU in the background; sets START_PID.
start_server() {
  "${PRIO[@]}" taskset -c "$SERVER_CPU" "$@" >>"$TMP/servers.log" 2>&1 &
  START_PID=$!
  PIDS+=("$START_PID")
}

# A process and its children (nginx's workers are its master's children).
tree_pids() { echo "$1" $(pgrep -P "$1" || true); }

# CPU ticks (user + system) used so far by a process and its children.
tree_ticks() {
  local pid
  for pid in $(tree_pids "$1"); do awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat"; done |
    awk '{t += $1} END {print t + 0}'
}

# PSS (KiB, smaps_rollup) of a process and its children.
tree_pss_kib() {
  local pid
  for pid in $(tree_pids "$1"); do awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup"; done |
    awk '{t += $1} END {print t + 0}'
}

stop_server() {
  kill "$1" 2>/dev/null || true
  timeout 10 tail --pid="$1" -f /dev/null || kill -9 "$1" 2>/dev/null || true
}
