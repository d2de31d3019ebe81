# server_lib.sh: the shell side of the interfaces between bench_server and
# the scripts that drive it (run_all.sh, bench/*.sh, loadgen/*.sh). Source
# it; it defines functions only and changes no shell options.
#
# The listening line's format is defined once, in harness/listening_line.h:
#   listening HOST:PORT model=NAME:VARIANT proto=echo|http pid=PID
# cb_listening_port reads it by the same rules (the address is the first
# field after "listening"; the port follows its last colon), so a script
# never guesses a free port: it starts the server on --port 0 and asks.
#
#   "$SERVER" --model reactor --proto echo --port 0 >"$out" &
#   port=$(cb_wait_port "$out" $!) || die "the server did not start"
#
# The model lists come from the registry (`bench_server --list-models
# --json`), never from a list of a script's own:
#   for model in $(cb_models "$SERVER" defaults); do ...

# Prints the port of the first listening line in FILE; fails if none yet.
cb_listening_port() {
  local port
  port=$(awk '$1 == "listening" { addr = $2; sub(/.*:/, "", addr); print addr; exit }' "$1" 2>/dev/null)
  [[ $port =~ ^[0-9]+$ ]] && (( port > 0 && port < 65536 )) || return 1
  printf '%s\n' "$port"
}

# cb_wait_port FILE PID [SECONDS]: waits (default 10 s) until the server
# PID, whose stdout goes to FILE, prints its listening line; prints the
# port. Fails as soon as PID exits, or at the deadline.
cb_wait_port() {
  local file=$1 pid=$2 seconds=${3:-10} i
  for ((i = 0; i < seconds * 10; i++)); do
    cb_listening_port "$file" && return 0
    kill -0 "$pid" 2>/dev/null || { cb_listening_port "$file"; return; }
    sleep 0.1
  done
  return 1
}

# cb_models SERVER [all|defaults]: NAME:VARIANT per line, in registry
# order; "defaults" keeps each model's default variant. Any python3 will
# do (only its json module is used).
cb_models() {
  local server=$1 which=${2:-all}
  "$server" --list-models --json | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    if sys.argv[1] == "all" or m["default"]:
        print(m["name"] + ":" + m["variant"])
' "$which"
}
