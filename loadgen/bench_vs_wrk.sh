#!/usr/bin/env bash
# bench_vs_wrk.sh: loadgen against wrk, same run, same server.
#
# nginx (Debian nginx-light) with one worker pinned to CPU 0 serves a 1 KiB
# file (access_log off, sendfile on) from a temp dir; wrk and then loadgen,
# one thread each pinned to CPU 1, keep 100 keep-alive connections busy for
# DURATION each (closed loop). Each tool's CPU (user+sys) comes from
# /usr/bin/time, so both are measured the same way. Prints requests/s, CPU
# per request and the loadgen/wrk ratios. nginx is stopped and the temp dir
# removed on exit, whatever happens.
#
#   loadgen/bench_vs_wrk.sh [LOADGEN_BINARY] [DURATION_S] [ROUNDS]
#   e.g. loadgen/bench_vs_wrk.sh build/loadgen/loadgen 10 2
set -euo pipefail

LOADGEN=${1:-build/loadgen/loadgen}
DURATION=${2:-10}
ROUNDS=${3:-1}
CONNECTIONS=100
SERVER_CPU=0
CLIENT_CPU=1

for tool in nginx wrk taskset /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench_vs_wrk: $tool not found" >&2; exit 2; }
done
[[ -x $LOADGEN ]] || { echo "bench_vs_wrk: no loadgen binary at $LOADGEN" >&2; exit 2; }
(( DURATION > 0 && DURATION <= 120 && ROUNDS > 0 && ROUNDS <= 10 )) ||
  { echo "bench_vs_wrk: DURATION_S must be 1..120, ROUNDS 1..10" >&2; exit 2; }

dir=$(mktemp -d /tmp/bench_vs_wrk.XXXXXX)
nginx_pid=
cleanup() {
  if [[ -n $nginx_pid ]] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

# A free loopback port: bind to 0 and read it back.
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/html" "$dir/tmp"
head -c 1024 /dev/urandom >"$dir/html/1k.bin"
chmod -R a+rX "$dir"  # nginx's worker drops to "nobody" when started as root
cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp;
  scgi_temp_path $dir/tmp;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $dir/html;
  }
}
EOF
taskset -c "$SERVER_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
url="http://127.0.0.1:$port/1k.bin"
for _ in $(seq 50); do
  /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.1
done

echo "# $(date -u +%FT%TZ) $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# nginx 1 worker on CPU $SERVER_CPU; clients 1 thread on CPU $CLIENT_CPU; $CONNECTIONS connections; ${DURATION}s; $url"

# CPU seconds (user+sys) used so far by nginx's worker process(es).
server_cpu() {
  local total=0 pid
  for pid in $(pgrep -P "$nginx_pid"); do
    total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{print t + ($14 + $15) / hz}' "/proc/$pid/stat")
  done
  echo "$total"
}

# Runs "$@" pinned to the client CPU; prints "requests cpu_s server_cpu_s".
measure() {
  local out=$dir/out time=$dir/time s0
  s0=$(server_cpu)
  taskset -c "$CLIENT_CPU" /usr/bin/time -f '%U %S' -o "$time" "$@" >"$out" 2>&1 || true
  local cpu requests
  [[ -n ${KEEP_OUTPUT:-} ]] && trap "cat $out >&2" RETURN
  cpu=$(awk '/^[0-9.]+ [0-9.]+$/ {print $1 + $2}' "$time")
  requests=$(awk '/requests in/ {print $1; exit}' "$out")
  echo "$requests $cpu $(awk -v a="$s0" -v b="$(server_cpu)" 'BEGIN {print b - a}')"
}

# The server's CPU per request shows whether it, not the client, was the
# limit (then it is near 100% of a CPU) and whether a client made it work
# harder per request.
printf '%-8s %5s %10s %10s %7s %13s %12s %13s\n' tool round requests req_per_s cpu_s cpu_us_per_req \
  server_cpu_s server_us_per_req
for round in $(seq "$ROUNDS"); do
  read -r w_req w_cpu w_srv < <(measure wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$url")
  read -r l_req l_cpu l_srv < <(measure "$LOADGEN" -t 1 -c "$CONNECTIONS" -d "${DURATION}s" "$url")
  for row in "wrk $w_req $w_cpu $w_srv" "loadgen $l_req $l_cpu $l_srv"; do
    set -- $row
    awk -v t="$1" -v r="$round" -v n="$2" -v c="$3" -v s="$4" -v d="$DURATION" 'BEGIN {
      printf "%-8s %5d %10d %10.0f %7.2f %13.3f %12.2f %13.3f\n", t, r, n, n / d, c, c * 1e6 / n, s, s * 1e6 / n }'
  done
  awk -v wn="$w_req" -v wc="$w_cpu" -v ln="$l_req" -v lc="$l_cpu" 'BEGIN {
    printf "ratio loadgen/wrk round %d: requests/s %.2f, CPU per request %.2f\n", '"$round"', ln / wn,
           (lc / ln) / (wc / wn) }'
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
