# peer_foreground.sh: what the launchers of servers that cannot bind port 0
# themselves nor print the listening line (nginx, Apache) share. Source it
# after peer_lib.sh and peer_parse_args, then:
#
#   peer_fill TEMPLATE OUT KEY...   writes TEMPLATE with each @KEY@ replaced
#                                   by the value of the variable KEY
#   peer_run START_FN LOG           see below
#
# peer_run picks a free port for --port 0 (the kernel's choice for a probe
# socket, released just before), calls START_FN, which writes the server's
# config for $PORT and starts it in the background (in this shell's process
# group, nothing daemonized) setting SERVER_PID; when the server exits at
# once with "Address already in use" in LOG (another process took the port
# meanwhile) it tries another port, up to 5 times. Once the port accepts a
# connection it prints the listening line, then stays the server's parent:
# SIGTERM/SIGINT are passed on to SERVER_PID, and the launcher exits 0 when
# the server has exited after one, 1 when it exited on its own (a crash).

peer_fill() {
  local template=$1 out=$2 text key
  shift 2
  text=$(<"$template")
  for key in "$@"; do text=${text//@$key@/${!key}}; done
  printf '%s\n' "$text" >"$out"
}

# The account a server started as root hands its workers to (Debian's for
# both nginx and Apache; Apache refuses to serve as root). It reads the
# docroot only if that is readable by all, as the harness's is.
peer_worker_user() {
  if [[ $(id -u) == 0 ]]; then echo www-data; else id -un; fi
}

peer_somaxconn() {
  cat /proc/sys/net/core/somaxconn 2>/dev/null || echo 4096
}

peer_free_port() {
  /usr/bin/python3 -c 'import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$HOST"
}

peer_accepts() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

SERVER_PID=''
PEER_STOPPING=0
peer_forward_stop() {
  PEER_STOPPING=1
  [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null
  return 0
}

# Waits for the server (a trapped signal ends `wait` early: wait again).
peer_wait_server() {
  local status=0
  while :; do
    wait "$SERVER_PID"
    status=$?
    kill -0 "$SERVER_PID" 2>/dev/null || break
  done
  return "$status"
}

peer_run() {
  local start=$1 log=$2 want=$PORT attempt i status
  trap peer_forward_stop TERM INT
  for attempt in 1 2 3 4 5; do
    [[ $want == 0 ]] && PORT=$(peer_free_port)
    : >"$log"
    "$start"
    # Up to 10 s for the port to accept (Apache prefork forks 1,024 processes).
    for ((i = 0; i < 1000; i++)); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      ((PEER_STOPPING)) && { peer_wait_server; exit 0; }
      if peer_accepts "$PORT"; then
        echo "listening $HOST:$PORT model=peer:$PEER_NAME proto=$PROTO pid=$SERVER_PID"
        peer_wait_server
        status=$?
        ((PEER_STOPPING)) && exit 0
        echo "peer:$PEER_NAME: the server exited on its own (status $status): $(tail -n 1 "$log")" >&2
        exit 1
      fi
      sleep 0.01
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      kill -KILL "$SERVER_PID" 2>/dev/null
      wait "$SERVER_PID" 2>/dev/null
      echo "peer:$PEER_NAME: port $PORT did not accept within 10 s" >&2
      exit 1
    fi
    wait "$SERVER_PID" 2>/dev/null
    ((PEER_STOPPING)) && exit 0
    [[ $want == 0 ]] && grep -q "Address already in use" "$log" 2>/dev/null && continue
    echo "peer:$PEER_NAME: the server did not start: $(tail -n 1 "$log" 2>/dev/null)" >&2
    exit 1
  done
  echo "peer:$PEER_NAME: no free port after 5 tries" >&2
  exit 1
}
