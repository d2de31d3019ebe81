#!/usr/bin/env bash
# netns_lab.sh: a server host and client hosts on this machine, as network
# namespaces joined by veth pairs, each client with a real sshd (Debian's
# openssh-server) that accepts one generated client key. For the tests of
# --client-hosts (harness/tests/multi_host_test.cpp) and the figures of
# harness/README.md. Needs root, iproute2, ssh, ssh-keygen, /usr/sbin/sshd.
#
#   netns_lab.sh up DIR ID N   make the lab: namespaces cbl-ID-srv and
#                              cbl-ID-c1..cN, state (keys, configs, logs) in
#                              DIR, and DIR/lab.env (below); on any failure it
#                              removes what it made and exits 1
#   netns_lab.sh down DIR      stop the lab's processes, delete its
#                              namespaces and DIR (idempotent)
#   netns_lab.sh sweep         remove the labs whose owner has died (ID starts
#                              with the owner's pid: a test killed mid-way)
#
# ID: the owner's pid and at most one letter (veth names stay within 15
# characters). Addresses, all in 198.18.0.0/15 (RFC 2544's benchmarking
# range), so no traffic can leave the machine:
#   server        198.18.0.1 on the server namespace's lo (SERVER_ADDR)
#   veth k        198.18.k.1/24 (server side) -- 198.18.k.2/24 (client k)
#   client k      sshd on 198.18.k.2:22 (CLIENT_ADDRS); 198.18.k.3 is client
#                 k's too but nothing listens there (REFUSING_ADDRS: a host
#                 that refuses SSH); route to 198.18.0.1 via 198.18.k.1
# lab.env (sourceable KEY="value" lines): LAB_ID, OWNER_PID, NS_SERVER,
# NS_CLIENTS, SERVER_ADDR, CLIENT_ADDRS, REFUSING_ADDRS, SSH (the ssh
# command with the lab's key and options, for --client-transport).
set -euo pipefail

die() { echo "netns_lab: $*" >&2; exit 1; }

# Everything in namespace $1 gets SIGKILL, then the namespace goes.
remove_ns() {
  local ns=$1 pids
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  for _ in $(seq 50); do
    [ -z "$(ip netns pids "$ns" 2>/dev/null || true)" ] && break
    sleep 0.1
  done
  ip netns del "$ns" 2>/dev/null || true
}

down() {
  local dir=$1 id="" ns
  if [ -f "$dir/lab.env" ]; then
    id=$(sed -n 's/^LAB_ID="\(.*\)"$/\1/p' "$dir/lab.env")
  elif [ -f "$dir/id" ]; then
    id=$(cat "$dir/id")
  fi
  if [ -n "$id" ]; then
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^cbl-${id}-" || true); do
      remove_ns "$ns"
    done
  fi
  rm -rf "$dir"
}

sweep() {
  local ns owner
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^cbl-[0-9]+[a-z]?-' || true); do
    owner=$(echo "$ns" | sed -E 's/^cbl-([0-9]+).*/\1/')
    if ! kill -0 "$owner" 2>/dev/null; then
      remove_ns "$ns"
      rm -rf "/tmp/cbl-${owner}"*
    fi
  done
}

wait_port() {  # ns addr port: until something listens (5 s at most)
  for _ in $(seq 100); do
    ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

up() {
  local dir=$1 id=$2 n=$3 k
  [[ "$id" =~ ^[0-9]{1,8}[a-z]?$ ]] || die "ID must be a pid and at most one letter: '$id'"
  [[ "$n" =~ ^[1-9]$ ]] || die "N must be 1..9"
  [ "$(id -u)" = 0 ] || die "needs root"
  for tool in ip ssh ssh-keygen /usr/sbin/sshd; do
    command -v "$tool" >/dev/null || die "$tool is missing"
  done
  mkdir -p "$dir"
  echo "$id" > "$dir/id"
  trap 'echo "netns_lab: set-up failed; removing the lab" >&2; down "$dir"' ERR
  local srv="cbl-${id}-srv" clients="" addrs="" refusing=""
  ip netns add "$srv"
  ip -n "$srv" link set lo up
  ip -n "$srv" addr add 198.18.0.1/32 dev lo
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  mkdir -p /run/sshd  # sshd's privilege separation directory (Debian's service makes it)
  for k in $(seq "$n"); do
    local ns="cbl-${id}-c${k}" s="cb${id}s${k}" c="cb${id}c${k}"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "$s" netns "$srv" type veth peer name "$c" netns "$ns"
    ip -n "$srv" addr add "198.18.${k}.1/24" dev "$s"
    ip -n "$srv" link set "$s" up
    ip -n "$ns" addr add "198.18.${k}.2/24" dev "$c"
    ip -n "$ns" addr add "198.18.${k}.3/24" dev "$c"
    ip -n "$ns" link set "$c" up
    ip -n "$ns" route add 198.18.0.1/32 via "198.18.${k}.1"
    cat > "$dir/sshd_c${k}.conf" <<EOF
ListenAddress 198.18.${k}.2
Port 22
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd_c${k}.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100
EOF
    ip netns exec "$ns" setsid /usr/sbin/sshd -D -e -f "$dir/sshd_c${k}.conf" \
      </dev/null >>"$dir/sshd_c${k}.log" 2>&1 &
    wait_port "$ns" "198.18.${k}.2" 22 || { cat "$dir/sshd_c${k}.log" >&2; die "sshd in $ns did not start"; }
    clients="$clients $ns"
    addrs="$addrs 198.18.${k}.2"
    refusing="$refusing 198.18.${k}.3"
  done
  local ssh_cmd="ssh -i $dir/client_key -o BatchMode=yes -o StrictHostKeyChecking=no"
  ssh_cmd="$ssh_cmd -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5"
  cat > "$dir/lab.env" <<EOF
LAB_ID="$id"
OWNER_PID="${id%%[a-z]}"
NS_SERVER="$srv"
NS_CLIENTS="${clients# }"
SERVER_ADDR="198.18.0.1"
CLIENT_ADDRS="${addrs# }"
REFUSING_ADDRS="${refusing# }"
SSH="$ssh_cmd"
EOF
  trap - ERR
}

case "${1:-}" in
  up) [ $# -eq 4 ] || die "usage: netns_lab.sh up DIR ID N"; up "$2" "$3" "$4" ;;
  down) [ $# -eq 2 ] || die "usage: netns_lab.sh down DIR"; down "$2" ;;
  sweep) sweep ;;
  *) die "usage: netns_lab.sh up DIR ID N | down DIR | sweep" ;;
esac
