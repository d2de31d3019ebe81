#!/usr/bin/env bash
# compare_nginx.sh: where reactor:epoll trailed nginx, measured in one run,
# server pinned to CPU 0 and clients to CPU 1 (issue 14):
#   1. HTTP GET of a 1 MiB file, 10 keep-alive connections, closed loop,
#      under wrk -t1 and loadgen -t 1: MiB/s, and the server's, the client's
#      and their summed CPU per response (on loopback each side's sends run
#      part of the other side's TCP receive work, so only the sum compares
#      servers fairly)
#   2. memory per idle keep-alive HTTP connection: server PSS (smaps_rollup,
#      the whole process tree) before and while IDLE_CONNECTIONS connections
#      that each made one GET of a 1 KiB file sit idle
#      (bench/hold_connections.cpp, compiled here)
# nginx is the peer:nginx launcher (servers/peers/nginx/serve: its config,
# one worker, sendfile, tcp_nopush, no access log). BEFORE=PATH adds a
# second bench_server binary (e.g. one built from an older commit) to every
# step, so a change is measured before and after in the same run. ROUNDS
# repeats step 1; each round runs every server and client once, in turn.
#
#   bench/compare_nginx.sh [BUILD_DIR]                (default: build)
#   BEFORE=/tmp/bench_server.old ROUNDS=3 DURATION=5s bench/compare_nginx.sh
#   KEEP_TMP=1 ...  keeps the temporary directory (load.log: every run's output)
#
# Needs bench_server and loadgen built (Release), wrk, nginx (nginx-light),
# g++. Every process it starts is stopped on exit; every step is bounded by
# `timeout`. Run it on a quiet machine (see `uptime`).
set -euo pipefail

BUILD=${1:-build}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-1}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
NGINX_SERVE=$HERE/../servers/peers/nginx/serve
SERVER_BIN=$BUILD/servers/bench_server
LOADGEN=$BUILD/loadgen/loadgen
STEP_LIMIT=120  # seconds: no single step may take longer
PRIO=()

die() { echo "compare_nginx: $*" >&2; exit 1; }
[[ -x $SERVER_BIN ]] || die "no $SERVER_BIN (build first: cmake --build $BUILD)"
[[ -x $LOADGEN ]] || die "no $LOADGEN (build first)"
[[ -z ${BEFORE:-} || -x $BEFORE ]] || die "BEFORE=$BEFORE is not an executable"
[[ $ROUNDS =~ ^[0-9]+$ ]] && (( ROUNDS >= 1 && ROUNDS <= 10 )) || die "ROUNDS must be 1..10"
for tool in wrk nginx g++ taskset /usr/bin/time; do command -v $tool >/dev/null || die "$tool not found"; done
"$NGINX_SERVE" --check --proto http >/dev/null || die "$("$NGINX_SERVE" --check --proto http)"

TMP=$(mktemp -d /tmp/cb-compare-nginx-XXXXXX)
# shellcheck source=bench/script_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/script_lib.sh"

# The servers compared: label and how to start it.
SERVERS=("reactor:epoll")
[[ -n ${BEFORE:-} ]] && SERVERS=("reactor:epoll(before)" "${SERVERS[@]}")
SERVERS+=("nginx")

mkdir -p "$TMP/www"
head -c 1048576 /dev/urandom >"$TMP/www/one_mib.bin"
head -c 1024 /dev/urandom >"$TMP/www/one_kib.bin"
# nginx started as root serves as "nobody": the files must be world-readable.
chmod 755 "$TMP" "$TMP/www"
chmod 644 "$TMP/www/"*

# start LABEL: starts that server on the server CPU; sets START_PID (the
# process whose tree is measured) and PORT.
start() {
  case $1 in
    nginx)
      local state="$TMP/nginx.$RANDOM" out="$TMP/nginx.$RANDOM.out"
      "${PRIO[@]}" taskset -c "$SERVER_CPU" "$NGINX_SERVE" --proto http --host 127.0.0.1 --port 0 \
        --root "$TMP/www" --workers 1 --state-dir "$state" >"$out" 2>>"$TMP/servers.log" &
      PIDS+=("$!")
      PORT=$(cb_wait_port "$out" "$!") || die "nginx did not start: $(cat "$out" "$TMP/servers.log")"
      START_PID=$(sed -n 's/.* pid=\([0-9]*\).*/\1/p' "$out")
      ;;
    "reactor:epoll(before)")
      start_bench_server "$BEFORE" --model reactor:epoll --proto http --root "$TMP/www" ;;
    *)
      start_bench_server "$SERVER_BIN" --model reactor:epoll --proto http --root "$TMP/www" ;;
  esac
}

stop() {  # the launcher passes SIGTERM on to nginx's master
  stop_server "$1"
}

# measure PID CLIENT URL: a 1 s warm-up, then DURATION on the load CPU.
# Prints "mib_per_s server_us client_us" per response.
measure() {
  local pid=$1 client=$2 url=$3 before after out requests
  local cmd=(wrk -t1 -c10 "$url")
  [[ $client == loadgen ]] && cmd=("$LOADGEN" -t 1 -c 10 "$url")
  timeout "$STEP_LIMIT" taskset -c "$LOAD_CPU" "${cmd[@]}" -d 1s >/dev/null
  before=$(tree_ticks "$pid")
  out=$(timeout "$STEP_LIMIT" taskset -c "$LOAD_CPU" /usr/bin/time -f 'client-cpu %U %S' \
    "${cmd[@]}" -d "$DURATION" 2>&1)
  after=$(tree_ticks "$pid")
  echo "$out" >>"$TMP/load.log"
  if grep -qE "Non-2xx|Socket errors|^  Errors" <<<"$out"; then
    echo "compare_nginx: $client saw errors (load.log)" >&2
  fi
  requests=$(awk '/ requests in / {print $1; exit}' <<<"$out")
  awk -v n="$requests" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v d="${DURATION%s}" '
    /^client-cpu/ { c = $2 + $3 }
    END { if (n > 0) printf "%.0f %.1f %.1f\n", n / d, t * 1e6 / hz / n, c * 1e6 / n; else print "n/a n/a n/a" }' <<<"$out"
}

echo "== compare_nginx: $(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   server on CPU $SERVER_CPU, clients on CPU $LOAD_CPU, $DURATION per run, $ROUNDS round(s)"
echo "   nginx $(nginx -v 2>&1 | cut -d/ -f2), peer:nginx config (servers/peers/nginx/nginx.conf.in)"

echo
echo "-- 1. GET /one_mib.bin, 10 connections (per response: server, client and summed CPU)"
printf '%-22s %-8s %5s %9s %10s %10s %10s\n' server client round "MiB/s" "server-us" "client-us" "sum-us"
for round in $(seq "$ROUNDS"); do
  for label in "${SERVERS[@]}"; do
    start "$label"
    for client in wrk loadgen; do
      read -r mib srv cli < <(measure "$START_PID" "$client" "http://127.0.0.1:$PORT/one_mib.bin")
      printf '%-22s %-8s %5d %9s %10s %10s %10s\n' "$label" "$client" "$round" "$mib" "$srv" "$cli" \
        "$(awk -v a="$srv" -v b="$cli" 'BEGIN { printf "%.1f", a + b }')"
    done
    stop "$START_PID"
  done
done

echo
echo "-- 2. memory per idle keep-alive HTTP connection ($IDLE_CONNECTIONS connections, one GET /one_kib.bin each)"
timeout "$STEP_LIMIT" g++ -O2 -std=c++17 -o "$TMP/hold_connections" "$HERE/hold_connections.cpp"
for label in "${SERVERS[@]}"; do
  start "$label"
  sleep 0.5
  pss_before=$(tree_pss_kib "$START_PID")
  coproc HOLDER { exec timeout "$STEP_LIMIT" taskset -c "$LOAD_CPU" "$TMP/hold_connections" \
    127.0.0.1 "$PORT" "$IDLE_CONNECTIONS" http /one_kib.bin 60; }
  PIDS+=("$HOLDER_PID")
  read -r -t "$STEP_LIMIT" holder_status <&"${HOLDER[0]}" || holder_status="no answer"
  [[ $holder_status == "ready $IDLE_CONNECTIONS" ]] || die "connection holder: $holder_status"
  sleep 1
  pss_after=$(tree_pss_kib "$START_PID")
  eval "exec ${HOLDER[1]}>&-"  # closing its stdin makes the holder close everything
  wait "$HOLDER_PID" 2>/dev/null || true
  stop "$START_PID"
  awk -v l="$label" -v a="$pss_before" -v b="$pss_after" -v n="$IDLE_CONNECTIONS" 'BEGIN {
    printf "%-22s PSS %7d KiB -> %7d KiB: %.2f KiB per idle connection\n", l, a, b, (b - a) / n }'
done
echo "(nginx allocates its connection slots at start, so its idle PSS already holds them:"
echo " worker_connections x (one ngx_connection_t and two ngx_event_t), about 0.4 KiB each)"
