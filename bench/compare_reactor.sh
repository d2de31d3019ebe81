#!/usr/bin/env bash
# compare_reactor.sh: reactor:epoll against two reference servers, in one run,
# server pinned to CPU 0 and load to CPU 1 (taskset):
#   1. echo, 64 B messages, 50 connections, closed loop (loadgen):
#      reactor:epoll vs Boost.Asio's async_tcp_echo_server example, compiled
#      here from the libboost1.74-doc package into a temporary directory
#   2. HTTP GET of a 1 KiB file, keep-alive, 100 connections (wrk -t1 -c100,
#      and loadgen too): reactor:epoll vs nginx (one worker, access_log off,
#      sendfile on, keepalive_requests unlimited in practice)
#   3. memory: server PSS (smaps_rollup) before and while 10,000 keep-alive
#      connections that each made one HTTP request sit idle (a small client,
#      bench/hold_connections.cpp, compiled here)
# Prints every figure and the ratios (reactor / reference); targets: >= 1.0x.
#
#   bench/compare_reactor.sh [BUILD_DIR]        (default: build)
#   DURATION=10s IDLE_CONNECTIONS=10000 bench/compare_reactor.sh build-reactor
#   KEEP_TMP=1 ...  keeps the temporary directory (load.log: every run's output)
#   NICE=-15 ...    runs servers and load at that nice level (root only): on a
#                   machine shared with compile jobs this keeps them from
#                   skewing the figures; both sides of a comparison get it
#
# Needs bench_server and loadgen built (Release), wrk, nginx (nginx-light),
# g++ and libboost1.74-doc. Every process it starts is killed on exit; every
# step is bounded by `timeout`. Run it on a quiet machine (see `uptime`).
set -euo pipefail

BUILD=${1:-build}
DURATION=${DURATION:-10s}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ASIO_SRC=/usr/share/doc/libboost1.74-doc/examples/libs/asio/example/cpp11/echo/async_tcp_echo_server.cpp
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER_BIN=$BUILD/servers/bench_server
LOADGEN=$BUILD/loadgen/loadgen
STEP_LIMIT=120  # seconds: no single step may take longer
PRIO=()
[[ -n ${NICE:-} ]] && PRIO=(nice -n "$NICE")

die() { echo "compare_reactor: $*" >&2; exit 1; }
[[ -x $SERVER_BIN ]] || die "no $SERVER_BIN (build first: cmake --build $BUILD)"
[[ -x $LOADGEN ]] || die "no $LOADGEN (build first)"
[[ -f $ASIO_SRC ]] || die "no $ASIO_SRC (apt-get install libboost1.74-doc)"
for tool in wrk nginx g++ taskset; do command -v $tool >/dev/null || die "$tool not found"; done

TMP=$(mktemp -d /tmp/cb-compare-reactor-XXXXXX)
# shellcheck source=bench/script_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/script_lib.sh"

# measure SERVER_PID LOAD_COMMAND...: a 2 s warm-up, then the measured run
# on the load CPU. Sets RPS (requests/s) and CPU_US (server CPU-us/request).
measure() {
  local pid=$1 before after out requests
  shift
  timeout "$STEP_LIMIT" "${PRIO[@]}" taskset -c "$LOAD_CPU" "$@" -d 2s >/dev/null
  before=$(tree_ticks "$pid")
  out=$(timeout "$STEP_LIMIT" "${PRIO[@]}" taskset -c "$LOAD_CPU" "$@" -d "$DURATION")
  after=$(tree_ticks "$pid")
  echo "$out" >>"$TMP/load.log"
  RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  requests=$(awk '/ requests in / {print $1}' <<<"$out")
  CPU_US=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
    'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "n/a" }')
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

echo "== compare_reactor: $(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   server on CPU $SERVER_CPU, load on CPU $LOAD_CPU, $DURATION per run, nice ${NICE:-0}"

echo "-- building the reference echo server and the connection holder in $TMP"
timeout "$STEP_LIMIT" g++ -O2 -DNDEBUG -std=c++17 -o "$TMP/asio_echo" "$ASIO_SRC" -pthread
timeout "$STEP_LIMIT" g++ -O2 -std=c++17 -o "$TMP/hold_connections" "$HERE/hold_connections.cpp"

# ---- 1. echo ---------------------------------------------------------------
start_bench_server "$SERVER_BIN" --model reactor:epoll --proto echo
port=$PORT
measure "$START_PID" "$LOADGEN" -t 1 --proto echo --msg-size 64 -c 50 "127.0.0.1:$port"
echo_reactor=$RPS echo_reactor_cpu=$CPU_US
stop_server "$START_PID"

port=$(free_port)
start_server "$TMP/asio_echo" "$port"
wait_listening "$port"
measure "$START_PID" "$LOADGEN" -t 1 --proto echo --msg-size 64 -c 50 "127.0.0.1:$port"
echo_asio=$RPS echo_asio_cpu=$CPU_US
stop_server "$START_PID"

# ---- 2. HTTP, 1 KiB file ---------------------------------------------------
mkdir -p "$TMP/www" "$TMP/nginx"
head -c 1024 /dev/urandom >"$TMP/www/one_kib.bin"
# nginx started as root serves as "nobody": the files must be world-readable.
chmod 755 "$TMP" "$TMP/www"
chmod 644 "$TMP/www/one_kib.bin"

start_bench_server "$SERVER_BIN" --model reactor:epoll --proto http --root "$TMP/www"
port=$PORT
reactor_pid=$START_PID
measure "$reactor_pid" wrk -t1 -c100 "http://127.0.0.1:$port/one_kib.bin"
http_reactor_wrk=$RPS http_reactor_wrk_cpu=$CPU_US
measure "$reactor_pid" "$LOADGEN" -t 1 -c 100 "http://127.0.0.1:$port/one_kib.bin"
http_reactor_lg=$RPS http_reactor_lg_cpu=$CPU_US

# ---- 3. memory of idle keep-alive connections (same reactor:epoll server) ---
pss_before=$(pss_kib "$reactor_pid")
coproc HOLDER { exec timeout "$STEP_LIMIT" "${PRIO[@]}" taskset -c "$LOAD_CPU" "$TMP/hold_connections" \
  127.0.0.1 "$port" "$IDLE_CONNECTIONS" http /one_kib.bin 60; }
PIDS+=("$HOLDER_PID")
read -r -t "$STEP_LIMIT" holder_status <&"${HOLDER[0]}" || holder_status="no answer"
[[ $holder_status == "ready $IDLE_CONNECTIONS" ]] || die "connection holder: $holder_status"
sleep 1
pss_after=$(pss_kib "$reactor_pid")
eval "exec ${HOLDER[1]}>&-"  # closing its stdin makes the holder close everything
wait "$HOLDER_PID" 2>/dev/null || true
stop_server "$reactor_pid"
per_conn_bytes=$(( (pss_after - pss_before) * 1024 / IDLE_CONNECTIONS ))

cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:PORT;
    root $TMP/www;
  }
}
EOF
port=$(free_port)
sed -i "s/PORT/$port/" "$TMP/nginx/nginx.conf"
start_server nginx -e "$TMP/nginx/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;'
wait_listening "$port"
measure "$START_PID" wrk -t1 -c100 "http://127.0.0.1:$port/one_kib.bin"
http_nginx_wrk=$RPS http_nginx_wrk_cpu=$CPU_US
measure "$START_PID" "$LOADGEN" -t 1 -c 100 "http://127.0.0.1:$port/one_kib.bin"
http_nginx_lg=$RPS http_nginx_lg_cpu=$CPU_US
stop_server "$START_PID"

# ---- report ----------------------------------------------------------------
row() {  # name reactor_rps reference_rps reactor_cpu reference_cpu
  printf '%-40s %10s %10s %7s %9s %9s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")x" "$4" "$5"
}
echo
printf '%-40s %10s %10s %7s %9s %9s\n' "requests/s (server CPU-us per request)" "reactor" \
  "reference" "ratio" "cpu-us" "ref-cpu-us"
row "echo 64 B, 50 conns, loadgen" "$echo_reactor" "$echo_asio" "$echo_reactor_cpu" "$echo_asio_cpu"
row "http 1 KiB, 100 conns, wrk" "$http_reactor_wrk" "$http_nginx_wrk" "$http_reactor_wrk_cpu" \
  "$http_nginx_wrk_cpu"
row "http 1 KiB, 100 conns, loadgen" "$http_reactor_lg" "$http_nginx_lg" "$http_reactor_lg_cpu" \
  "$http_nginx_lg_cpu"
echo "(echo reference: Boost.Asio async_tcp_echo_server; http reference: nginx $(nginx -v 2>&1 | cut -d/ -f2), 1 worker)"
if grep -E "Non-2xx|Socket errors|errors:" "$TMP/load.log"; then
  echo "WARNING: the load generators saw errors (above); the figures are suspect"
fi
echo
echo "idle keep-alive connections: $IDLE_CONNECTIONS, server PSS ${pss_before} KiB -> ${pss_after} KiB:" \
  "${per_conn_bytes} bytes per connection (target <= 4096)"
