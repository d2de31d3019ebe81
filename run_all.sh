#!/usr/bin/env bash
# run_all.sh: the one entry point. Every mode first checks the Debian packages
# it needs (installing missing ones when run as root; `plot` needs only
# Python's), then configures and builds (Release, incremental) if it runs
# anything built, then does its job.
#
#   ./run_all.sh [HARNESS OPTIONS]   main job: quick matrix, JSON, charts, report
#   ./run_all.sh test [--sanitize address|thread] [--fuzz]
#   ./run_all.sh bench               micro-benchmarks (Google Benchmark)
#   ./run_all.sh plot DIR            re-draw the charts and report of a results folder
#   ./run_all.sh build | setup       only build, or only install packages
#   ./run_all.sh --help
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# cb_models (the registry's model lists); see the file for the rest.
# shellcheck source=harness/server_lib.sh
source "$ROOT/harness/server_lib.sh"

# Debian packages: the toolchain, the libraries the build links and Debian's
# python3 with matplotlib for the charts.
PACKAGES=(cmake g++ make pkg-config libfmt-dev nlohmann-json3-dev libbenchmark-dev libgtest-dev
  libcli11-dev libboost-context-dev liburing-dev python3 python3-matplotlib python3-numpy
  python3-pytest procps)
# What `plot` needs: it only runs plots/report.py on an existing folder.
PLOT_PACKAGES=(python3 python3-matplotlib python3-numpy)
# The reference servers' runtimes (servers/peers/): `setup --peers`, `test`
# and a profile with "peers": true install them; the plain main job does not.
PEER_PACKAGES=(nginx-light apache2 golang-go nodejs python3-eventlet libboost-dev)
# What `test` adds: a browser for the report's layout check (plots/layout_check.py).
TEST_PACKAGES=(chromium fonts-dejavu-core)
# What the network-namespace tests of --client-hosts need (a real sshd in
# each client namespace, ssh, ip: harness/tests/multi_host_test.cpp).
# Installed by `test` as root only: without root those tests skip anyway.
LAB_PACKAGES=(openssh-server openssh-client iproute2)
# Extra packages of `test --fuzz` (libFuzzer comes with clang's runtime).
FUZZ_PACKAGES=(clang libclang-rt-14-dev)
JOBS="$(nproc 2>/dev/null || echo 2)"

usage() {
  cat <<'USAGE'
Usage: ./run_all.sh [MODE] [OPTIONS]

Modes:
  (none)        Main job: setup, Release build, the quick benchmark matrix
                (every model's default variant, echo and http, 10/100/1000
                connections, and one service cell: /app with a 10 ms backend
                call at 1000 connections; about 5 minutes on 2 cores), then
                the charts and report; prints where results.json and the
                report are.
                Harness options pass through, e.g. --profile full (every
                variant, up to 10k connections, 3 repetitions, plus the
                micro-benchmarks of bench/: hours),
                --profile service (backend delays x connections), --profile
                cpu (CPU-heavy handlers and light/heavy mixes), --profile
                disk (files from disk against a 128 MiB server memory
                limit: Flash's experiment; data sets in --dataset-dir),
                --profile my_matrix.json, --models reactor,fiber:multi
                --protos http --connections 10,100 --rate closed,10k
                --repeat 3 --duration 10s --warmup 2s --server-cpus 0
                --client-cpus 1 --out DIR (writes DIR/<UTC stamp>/ and
                DIR/latest), --dry-run (list the runs);
                build/harness/harness --help lists them all.
                Exit status 1 when some run failed (the rest is kept).
                --profile peers (every default model beside the reference
                servers of servers/peers/: nginx, Apache, Go, Node.js, ...;
                installs their packages first; about 10 minutes).
  test          Setup (the peers' packages and Chromium for the report's
                layout check too), build, then every test
                (ctest: unit, conformance per model variant and per peer,
                load generator, harness, plot tests). As root it also
                installs openssh-server, openssh-client and iproute2 (no
                service started) for the network-namespace tests of
                --client-hosts.
                  --sanitize address   ASan+UBSan build in build-asan/
                  --sanitize thread    TSan build in build-tsan/
                  --fuzz               also run the libFuzzer targets (bounded)
  bench         Setup, build, Google Benchmark micro-benchmarks into results/.
  soak [DUR]    Setup, build, then a soak of each default model at 80% of its
                measured capacity (default 5m each): RSS and descriptor
                counts must stay flat (least-squares slope).
  plot DIR      Re-draw charts and report for an existing results folder
                (needs only Debian's python3 with matplotlib, no build).
  build         Setup and build only.
  setup         Install or check the Debian packages only.
                  --peers              also the peers' (nginx-light apache2
                                       golang-go nodejs python3-eventlet
                                       libboost-dev), their services kept
                                       from starting
  -h, --help    This text.

Packages: when run as root, missing Debian packages are installed with
apt-get; otherwise the exact apt-get command is printed and the script exits 2.
USAGE
}

log() { printf '[run_all] %s\n' "$*" >&2; }

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

setup() {
  local missing
  missing="$(missing_packages "$@" | tr '\n' ' ')"
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: $missing"
    log "install them with: sudo apt-get update && sudo apt-get install -y $missing"
    exit 2
  fi
  log "installing: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $missing
}

# The peers' packages. Their daemons (nginx, apache2) must not start or be
# enabled on install: a policy-rc.d that refuses every action (exit 101)
# stands while apt-get runs, and whatever policy-rc.d was there before is
# put back. A node already on PATH from elsewhere is kept (nodejs is not
# installed over it).
setup_peers() {
  local wanted=() p missing
  for p in "${PEER_PACKAGES[@]}"; do
    if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1 && [ -n "$(missing_packages nodejs)" ]; then
      log "node is installed from elsewhere ($(command -v node)): nodejs is not installed over it"
      continue
    fi
    wanted+=("$p")
  done
  missing="$(missing_packages "${wanted[@]}" | tr '\n' ' ')"
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    setup "${wanted[@]}"  # prints the apt-get command, exits 2
  fi
  without_service_starts setup "${wanted[@]}"
}

# Runs "$@" (in a subshell: setup may exit) while a policy-rc.d refuses every
# service action (exit 101), so installing a daemon package (nginx, apache2,
# openssh-server) neither starts nor enables its system service; whatever
# policy-rc.d was there before is put back.
without_service_starts() {
  local policy=/usr/sbin/policy-rc.d saved="" status=0
  if [ -e "$policy" ]; then
    saved="$(mktemp "${TMPDIR:-/tmp}/policy-rc.d.XXXXXX")"
    cp -p "$policy" "$saved"
  fi
  printf '#!/bin/sh\n# run_all.sh: no service starts while packages install\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  ( "$@" ) || status=$?
  if [ -n "$saved" ]; then
    cp -p "$saved" "$policy"
    rm -f "$saved"
  else
    rm -f "$policy"
  fi
  return "$status"
}

# The lab packages, as root only (the tests that need them skip otherwise).
setup_lab() {
  [ "$(id -u)" -eq 0 ] || return 0
  [ -z "$(missing_packages "${LAB_PACKAGES[@]}")" ] && return 0
  without_service_starts setup "${LAB_PACKAGES[@]}"
}

# Whether the main job's arguments name a profile with "peers": true or a
# peer model (--models peer...): then the peers' packages are installed.
wants_peers() {
  local profile=quick file
  while [ $# -gt 0 ]; do
    case "$1" in
      --profile) profile="${2:-}"; shift 2 || break; continue ;;
      --profile=*) profile="${1#*=}" ;;
      --models) case ",${2:-}," in *,peer,*|*,peer:*) return 0 ;; esac ;;
      --models=*) case ",${1#*=}," in *,peer,*|*,peer:*) return 0 ;; esac ;;
    esac
    shift
  done
  file="$profile"
  [ -f "$file" ] || file="$ROOT/harness/profiles/$profile.json"
  [ -f "$file" ] && grep -Eq '"peers"[[:space:]]*:[[:space:]]*true' "$file"
}

# build DIR [extra cmake args...]
build() {
  local dir="$1"
  shift
  cmake -S "$ROOT" -B "$ROOT/$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$ROOT/$dir" -j "$JOBS"
}

mode_test() {
  local sanitize="" fuzz=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --sanitize) sanitize="${2:-}"; shift 2 || { echo "run_all.sh: --sanitize needs address or thread" >&2; exit 2; } ;;
      --sanitize=*) sanitize="${1#*=}"; shift ;;
      --fuzz) fuzz=1; shift ;;
      *) echo "run_all.sh: unknown test option '$1' (see --help)" >&2; exit 2 ;;
    esac
  done
  local dir=build
  case "$sanitize" in
    "") ;;
    address) dir=build-asan ;;
    thread) dir=build-tsan ;;
    *) echo "run_all.sh: --sanitize must be address or thread" >&2; exit 2 ;;
  esac
  build "$dir" -DCB_SANITIZE="$sanitize"
  # Under a sanitizer the 10,000-connection and soak tests measure the
  # sanitizer, not the server: they run in the plain build only.
  local skip=()
  [ -n "$sanitize" ] && skip=(-LE 'c10k|soak')
  ctest --test-dir "$ROOT/$dir" --output-on-failure -j "$JOBS" --timeout 900 "${skip[@]}"
  if [ "$fuzz" = 1 ]; then
    # libFuzzer needs clang; the fuzz build holds only the protocol code.
    setup "${FUZZ_PACKAGES[@]}"
    CC=clang CXX=clang++ build build-fuzz -DCB_FUZZ=ON
    ctest --test-dir "$ROOT/build-fuzz" --output-on-failure -L fuzz
  fi
}

mode_soak() {
  local duration="$1" model models status=0
  # Each model's default variant, as the registry says.
  models="$(cb_models build/servers/bench_server defaults)"
  for model in $models; do
    build/tests/soak_test --server build/servers/bench_server --model "$model" \
      --proto http --duration "$duration" || status=1
  done
  return "$status"
}

# The value of KEY in a harness --run-info file (key=value lines).
run_info_value() {
  sed -n "s/^$2=//p" "$1" | head -n 1
}

mode_main() {
  if wants_peers "$@"; then setup_peers; fi
  build build
  # The harness writes where its results went, and whether the profile
  # includes the micro-benchmarks, to the --run-info file; its progress goes
  # to stderr. `--profile quick` comes first so a --profile of the caller's
  # wins (the harness takes the last one).
  local output info dir="" microbench=false status=0
  info="$(mktemp "${TMPDIR:-/tmp}/run_all-info.XXXXXX")"
  output="$(build/harness/harness --profile quick --run-info "$info" "$@")" || status=$?
  if [ -s "$info" ]; then
    dir="$(run_info_value "$info" results_dir)"
    microbench="$(run_info_value "$info" microbench)"
  fi
  rm -f "$info"
  if [ -z "$dir" ] || [ ! -f "$dir/results.json" ]; then
    # --help, --dry-run or a usage error: nothing was measured.
    [ -z "$output" ] || printf '%s\n' "$output"
    return "$status"
  fi
  # A profile that says so (full) also measures the mechanisms (bench/)
  # into the folder.
  if [ "$microbench" = true ]; then
    "$ROOT/bench/run_bench.sh" --build build --out "$dir" --no-plots ||
      log "micro-benchmarks failed (the matrix results are intact)"
  fi
  if [ -f "$ROOT/plots/report.py" ]; then
    /usr/bin/python3 "$ROOT/plots/report.py" "$dir" || log "charts failed (the results are intact)"
  fi
  log "results: $dir/results.json"
  if [ -f "$dir/report.html" ]; then
    log "report:  $dir/report.html (and report.md)"
  fi
  return "$status"
}

main() {
  local mode="${1:-}"
  case "$mode" in
    -h|--help|help) usage; exit 0 ;;
  esac
  # Re-drawing charts needs Python only: no toolchain, no build.
  if [ "$mode" = plot ]; then
    shift
    setup "${PLOT_PACKAGES[@]}"
    [ $# -ge 1 ] || { echo "run_all.sh: plot needs a results folder" >&2; exit 2; }
    exec /usr/bin/python3 "$ROOT/plots/report.py" "$@"
  fi
  setup "${PACKAGES[@]}"
  case "$mode" in
    test) shift; setup_peers; setup "${TEST_PACKAGES[@]}"; setup_lab; mode_test "$@" ;;
    build) build build ;;
    setup)
      case "${2:-}" in
        "") ;;
        --peers) setup_peers ;;
        *) echo "run_all.sh: unknown setup option '$2' (--peers)" >&2; exit 2 ;;
      esac ;;
    bench) shift; build build; exec "$ROOT/bench/run_bench.sh" "$@" ;;
    soak) shift; build build; mode_soak "${1:-5m}" ;;
    ""|-*) mode_main "$@" ;;
    *) echo "run_all.sh: unknown mode '$mode' (see --help)" >&2; exit 2 ;;
  esac
}

main "$@"
