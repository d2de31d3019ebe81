# peer_lib.sh: the command line every peer's `serve` launcher shares
# (servers/peers/README.md, "The launcher"). Source it, then call
#   peer_parse_args NAME "$@"
# which sets PEER_NAME, PROTO, HOST, PORT, ROOT, WORKERS, STATE_DIR, BIN_DIR
# CHECK (1 for --check) and VERSION (1 for --version), or prints one line
# and exits 2 on a bad argument. It defines functions and those variables
# only.
#
#   serve --proto echo|http --host HOST --port PORT --root DIR --workers N
#         --state-dir DIR [--bin-dir DIR]
#   serve --check --proto echo|http
#   serve --version        the runtime's version, one line (peer_print_version)
#
# --bin-dir defaults to build/servers/peers next to the source tree (where
# CMake puts peer_go and peer_asio), or $CB_PEERS_BIN_DIR when set.

# One line on stderr, exit 2 (a bad argument).
peer_usage_error() {
  printf 'serve (peer:%s): %s\n' "$PEER_NAME" "$1" >&2
  exit 2
}

# `serve --check` failing: one line on stdout, exit 1.
peer_check_fail() {
  printf '%s\n' "$1"
  exit 1
}

# peer_require_proto PROTO...: the protocols this peer serves; with --check
# an unsupported one is a check failure, otherwise a bad argument.
peer_require_proto() {
  local p
  for p in "$@"; do [[ $PROTO == "$p" ]] && return 0; done
  local list="$*"
  [[ $CHECK == 1 ]] && peer_check_fail "peer:$PEER_NAME serves ${list// /, } only"
  peer_usage_error "peer:$PEER_NAME serves ${list// /, } only, not --proto $PROTO"
}

# peer_print_version CMD...: --version's line, the first line CMD prints
# (stdout or stderr; `nginx -v` writes to stderr), then exit 0; exit 1 with
# one line when CMD fails (the runtime is missing).
peer_print_version() {
  local out
  out=$("$@" 2>&1) || peer_check_fail "peer:$PEER_NAME: '$*' failed"
  printf '%s\n' "${out%%$'\n'*}"
  exit 0
}

peer_parse_args() {
  PEER_NAME=$1
  shift
  PROTO='' HOST=127.0.0.1 PORT='' ROOT='' WORKERS=1 STATE_DIR='' CHECK=0 VERSION=0
  BIN_DIR=${CB_PEERS_BIN_DIR:-}
  local lib_dir
  lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  [[ -n $BIN_DIR ]] || BIN_DIR="$lib_dir/../../build/servers/peers"
  while (($#)); do
    case $1 in
      --check) CHECK=1; shift; continue ;;
      --version) VERSION=1; shift; continue ;;
      --proto | --host | --port | --root | --workers | --state-dir | --bin-dir)
        (($# >= 2)) || peer_usage_error "$1 needs a value" ;;
      *) peer_usage_error "unknown argument '$1' (see servers/peers/README.md)" ;;
    esac
    case $1 in
      --proto) PROTO=$2 ;;
      --host) HOST=$2 ;;
      --port) PORT=$2 ;;
      --root) ROOT=$2 ;;
      --workers) WORKERS=$2 ;;
      --state-dir) STATE_DIR=$2 ;;
      --bin-dir) BIN_DIR=$2 ;;
    esac
    shift 2
  done
  ((VERSION)) && return 0
  [[ $PROTO == echo || $PROTO == http ]] || peer_usage_error "--proto must be echo or http"
  [[ $WORKERS =~ ^[1-9][0-9]{0,3}$ ]] || peer_usage_error "--workers must be a number from 1 to 9999"
  [[ -n $HOST ]] || peer_usage_error "--host must not be empty"
  ((CHECK)) && return 0
  [[ $PORT =~ ^[0-9]{1,5}$ ]] && ((PORT <= 65535)) || peer_usage_error "--port must be a number from 0 to 65535"
  [[ -n $STATE_DIR ]] || peer_usage_error "--state-dir is required"
  mkdir -p -- "$STATE_DIR" 2>/dev/null || peer_usage_error "--state-dir $STATE_DIR cannot be created"
  STATE_DIR=$(cd -- "$STATE_DIR" && pwd)
  if [[ $PROTO == http ]]; then
    [[ -n $ROOT ]] || peer_usage_error "--root is required for --proto http"
    [[ -d $ROOT ]] || peer_usage_error "--root $ROOT is not a directory"
    ROOT=$(cd -- "$ROOT" && pwd)
  fi
  return 0
}
