#!/usr/bin/env bash
# compare_fiber.sh: fiber:hub against reactor:epoll and a Go
# goroutine-per-connection echo server (GOMAXPROCS=1), in one run, server
# pinned to CPU 0 and load to CPU 1 (taskset):
#   1. echo, 64 B messages, 50 connections, closed loop (loadgen), ROUNDS
#      rounds with the three servers interleaved; the median of each is
#      reported, and the ratios of the medians (targets: fiber:hub >= 0.9x
#      reactor:epoll and >= 1.0x Go), for requests/s and for requests per
#      second of server CPU (less sensitive to other load on the machine)
#   2. memory: server PSS (smaps_rollup) before and while 10,000 echo
#      connections that each echoed one message sit idle (bench/
#      hold_connections.cpp, compiled here), for fiber:hub and, for contrast,
#      Go; target for fiber:hub <= 16 KiB per connection
# The Go server is written to a temporary directory and built there with
# `go build` (Debian golang-go, no network: GOPROXY=off); nothing is kept.
#
#   bench/compare_fiber.sh [BUILD_DIR]        (default: build)
#   DURATION=10s ROUNDS=3 IDLE_CONNECTIONS=10000 bench/compare_fiber.sh build-fiber
#
# Needs bench_server and loadgen built (Release), go, g++, taskset. Every
# process it starts is killed on exit; every step is bounded by `timeout`.
# Run it on a quiet machine (the load average is printed first).
set -euo pipefail

BUILD=${1:-build}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER_BIN=$BUILD/servers/bench_server
LOADGEN=$BUILD/loadgen/loadgen
STEP_LIMIT=120  # seconds: no single step may take longer

die() { echo "compare_fiber: $*" >&2; exit 1; }
[[ -x $SERVER_BIN ]] || die "no $SERVER_BIN (build first: cmake --build $BUILD)"
[[ -x $LOADGEN ]] || die "no $LOADGEN (build first)"
for tool in go g++ taskset; do command -v $tool >/dev/null || die "$tool not found"; done

TMP=$(mktemp -d /tmp/cb-compare-fiber-XXXXXX)
# shellcheck source=bench/script_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/script_lib.sh"

# Starts server "$1" (fiber:hub, reactor:epoll or go); sets PORT. bench_server
# takes --port 0; Go's echo server has no such mode and gets a free port.
start_named() {
  case $1 in
    go)
      PORT=$(free_port)
      GOMAXPROCS=1 start_server "$TMP/goecho" "$PORT"
      wait_listening "$PORT"
      ;;
    *) start_bench_server "$SERVER_BIN" --model "$1" --proto echo ;;
  esac
}

# CPU time (user + system, all threads) of process $1, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS_PER_S=$(getconf CLK_TCK)

# Runs the echo load against port $1 (server pid $2); prints "RPS EFFICIENCY":
# requests/s, and requests per second of server CPU. The second is what
# is left when other work on the machine steals the server's CPU: a
# throughput figure then measures the neighbours as much as the server.
echo_run() {
  local before after rps
  before=$(cpu_ticks "$2")
  rps=$(timeout "$STEP_LIMIT" taskset -c "$LOAD_CPU" "$LOADGEN" -t 1 --warmup 1s -d "$DURATION" \
    --proto echo --msg-size 64 -c 50 "127.0.0.1:$1" \
    | tee -a "$TMP/load.log" | awk '/^Requests\/sec:/ {print $2}')
  after=$(cpu_ticks "$2")
  # The CPU covers warm-up + measurement; so does rps x (warm-up + duration).
  awk -v rps="$rps" -v d="${DURATION%s}" -v ticks=$((after - before)) -v hz="$TICKS_PER_S" \
    'BEGIN { cpu = ticks / hz; printf "%s %.0f\n", rps, (cpu > 0 ? rps * (d + 1) / cpu : 0) }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

echo "== compare_fiber: $(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   server on CPU $SERVER_CPU, load on CPU $LOAD_CPU, $DURATION per run, $ROUNDS rounds"

echo "-- building the Go echo server and the connection holder in $TMP"
mkdir -p "$TMP/go"
cat >"$TMP/go/go.mod" <<'EOF'
module goecho

go 1.19
EOF
# A goroutine per connection, each in a blocking-style read/write loop: Go's
# netpoller parks it on EAGAIN, the same design as fiber:hub.
cat >"$TMP/go/main.go" <<'EOF'
package main

import (
	"net"
	"os"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		panic(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go serve(c) // TCP_NODELAY is Go's default
	}
}
EOF
(cd "$TMP/go" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$TMP/gocache" GOPATH="$TMP/gopath" \
  timeout "$STEP_LIMIT" go build -o "$TMP/goecho" .) || die "go build failed"
timeout "$STEP_LIMIT" g++ -O2 -std=c++17 -o "$TMP/hold_connections" "$HERE/hold_connections.cpp"

# ---- 1. echo ---------------------------------------------------------------
SERVERS=(fiber:hub reactor:epoll go)
declare -A RESULTS EFFICIENCY
echo "   per round: req/s (requests per server CPU-second)"
for round in $(seq "$ROUNDS"); do
  line="   round $round:"
  for s in "${SERVERS[@]}"; do
    start_named "$s"
    read -r rps eff < <(echo_run "$PORT" "$START_PID")
    stop_server "$START_PID"
    RESULTS[$s]="${RESULTS[$s]:-} $rps"
    EFFICIENCY[$s]="${EFFICIENCY[$s]:-} $eff"
    line+=" $s $rps ($eff)"
  done
  echo "$line"
done

# ---- 2. memory of idle echo connections --------------------------------------
# Prints "PSS_BEFORE PSS_AFTER" (KiB) of server "$1" around holding the
# connections; each connection has echoed one 64-byte message first.
idle_pss() {
  start_named "$1"
  local pid=$START_PID before after status
  sleep 0.5
  before=$(pss_kib "$pid")
  coproc HOLDER { exec timeout "$STEP_LIMIT" taskset -c "$LOAD_CPU" "$TMP/hold_connections" \
    127.0.0.1 "$PORT" "$IDLE_CONNECTIONS" echo "$(printf 'x%.0s' $(seq 64))" 60; }
  PIDS+=("$HOLDER_PID")
  read -r -t "$STEP_LIMIT" status <&"${HOLDER[0]}" || status="no answer"
  [[ $status == "ready $IDLE_CONNECTIONS" ]] || die "connection holder ($1): $status"
  sleep 1
  after=$(pss_kib "$pid")
  eval "exec ${HOLDER[1]}>&-"  # closing its stdin makes the holder close everything
  wait "$HOLDER_PID" 2>/dev/null || true
  stop_server "$pid"
  echo "$before $after"
}
read -r fiber_before fiber_after < <(idle_pss fiber:hub)
read -r go_before go_after < <(idle_pss go)

# ---- report ----------------------------------------------------------------
fiber=$(median ${RESULTS[fiber:hub]})
reactor=$(median ${RESULTS[reactor:epoll]})
gosrv=$(median ${RESULTS[go]})
fiber_eff=$(median ${EFFICIENCY[fiber:hub]})
reactor_eff=$(median ${EFFICIENCY[reactor:epoll]})
go_eff=$(median ${EFFICIENCY[go]})
echo
printf '%-40s %12s %16s\n' "echo 64 B, 50 conns (medians)" "req/s" "req/CPU-second"
printf '  %-38s %12s %16s\n' "fiber:hub" "$fiber" "$fiber_eff" "reactor:epoll" "$reactor" \
  "$reactor_eff" "Go, GOMAXPROCS=1" "$gosrv" "$go_eff"
printf '  %-38s %12s %16s   (target >= 0.90)\n' "fiber:hub / reactor:epoll" \
  "$(ratio "$fiber" "$reactor")x" "$(ratio "$fiber_eff" "$reactor_eff")x"
printf '  %-38s %12s %16s   (target >= 1.00)\n' "fiber:hub / Go" "$(ratio "$fiber" "$gosrv")x" \
  "$(ratio "$fiber_eff" "$go_eff")x"
if grep -E "errors?:|mismatch|timeout" "$TMP/load.log" | grep -v " 0$" | grep -q .; then
  grep -E "errors?:|mismatch|timeout" "$TMP/load.log" | sort | uniq -c
  echo "WARNING: loadgen reported errors (above); the figures are suspect"
fi
echo
per_conn() { echo $(( ($2 - $1) * 1024 / IDLE_CONNECTIONS )); }
echo "idle echo connections: $IDLE_CONNECTIONS"
echo "  fiber:hub  PSS ${fiber_before} KiB -> ${fiber_after} KiB:" \
  "$(per_conn "$fiber_before" "$fiber_after") bytes per connection (target <= 16384)"
echo "  Go         PSS ${go_before} KiB -> ${go_after} KiB:" \
  "$(per_conn "$go_before" "$go_after") bytes per connection"
