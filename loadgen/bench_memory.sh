#!/usr/bin/env bash
# bench_memory.sh: loadgen's memory per idle connection.
#
# Starts bench_server --model reactor (echo) on a free port, then runs
# loadgen twice with a nearly idle open loop (1 request/s in total): once
# with BASE connections, once with N. Mid-run it reads loadgen's PSS and RSS
# from /proc/PID/smaps_rollup and prints (PSS(N) - PSS(BASE)) / (N - BASE).
# Kernel socket buffers are not in either figure (they are not the
# process's memory). The server is stopped on exit, whatever happens.
#
#   loadgen/bench_memory.sh [BUILD_DIR] [N] [BASE]
#   e.g. loadgen/bench_memory.sh build 10000 100
set -euo pipefail

BUILD=${1:-build}
N=${2:-10000}
BASE=${3:-100}
LOADGEN=$BUILD/loadgen/loadgen
SERVER=$BUILD/servers/bench_server
[[ -x $LOADGEN && -x $SERVER ]] || { echo "bench_memory: build $LOADGEN and $SERVER first" >&2; exit 2; }
(( N > BASE && N <= 20000 )) || { echo "bench_memory: want BASE < N <= 20000" >&2; exit 2; }
(( $(ulimit -n) > N + 100 )) || { echo "bench_memory: ulimit -n must exceed $((N + 100))" >&2; exit 2; }

out=$(mktemp /tmp/bench_memory.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -f "$out"
}
trap cleanup EXIT

"$SERVER" --model reactor --proto echo --port 0 >"$out" &
server_pid=$!
for _ in $(seq 50); do grep -q '^listening' "$out" && break; sleep 0.1; done
port=$(sed -n 's/^listening [0-9.]*:\([0-9]*\) .*/\1/p' "$out")
[[ -n $port ]] || { echo "bench_memory: the server did not start" >&2; exit 1; }

# Prints "pss_kb rss_kb open_connections" of a loadgen holding $1 connections.
sample() {
  local connections=$1 pid pss rss
  "$LOADGEN" -c "$connections" -R 1 -d 6s --connect-rate 20k "127.0.0.1:$port" >/dev/null &
  pid=$!
  sleep 4  # the ramp takes at most 1 s; then the connections sit idle
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
  rss=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup")
  local fds
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
  wait "$pid" || true
  echo "$pss $rss $fds"
}

read -r base_pss base_rss base_fds < <(sample "$BASE")
read -r n_pss n_rss n_fds < <(sample "$N")
echo "# $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "connections=$BASE pss_kb=$base_pss rss_kb=$base_rss fds=$base_fds"
echo "connections=$N pss_kb=$n_pss rss_kb=$n_rss fds=$n_fds"
awk -v a="$base_pss" -v b="$n_pss" -v ra="$base_rss" -v rb="$n_rss" -v n="$N" -v m="$BASE" 'BEGIN {
  printf "per connection: PSS %.0f bytes, RSS %.0f bytes\n", (b - a) * 1024 / (n - m), (rb - ra) * 1024 / (n - m) }'
