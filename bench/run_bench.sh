#!/usr/bin/env bash
# run_bench.sh: runs every micro-benchmark binary of bench/ and writes one
# Google Benchmark JSON document, microbench.json, into a results folder,
# then prints a short table and draws the charts (plots/report.py).
# `./run_all.sh bench [OPTIONS]` builds build/ and calls this.
#
#   bench/run_bench.sh                      results/<UTC stamp>/microbench.json
#   bench/run_bench.sh --out results/latest add microbench.json to an existing
#                                           results folder (e.g. a harness run)
#   bench/run_bench.sh --min-time 0.05 --repetitions 1 --filter 'BM_Switch'
#
# Bounded: each binary runs under `timeout` (--timeout, default 300 s); with
# the defaults (0.2 s per benchmark, 3 repetitions) the whole set takes about
# 2-4 minutes on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=/usr/bin/python3  # Debian's, with matplotlib (the python3 on PATH may lack it)
BINARIES=(switch_bench thread_switch_bench create_bench readiness_bench memory_bench syscall_bench)

build="$ROOT/build"
out=""
min_time=0.2
repetitions=3
filter=""
per_binary_timeout=300
plots=1

usage() {
  cat <<'USAGE'
Usage: bench/run_bench.sh [OPTIONS]
  --out DIR          write DIR/microbench.json (DIR is created if missing);
                     default results/<UTC stamp>/ (a new folder)
  --build DIR        build tree holding bench/ binaries (default build/)
  --min-time S       --benchmark_min_time per benchmark, seconds (default 0.2)
  --repetitions N    --benchmark_repetitions (default 3: mean, median,
                     stddev and error bars in the charts)
  --filter RE        --benchmark_filter for every binary (default: all)
  --timeout S        limit per binary, seconds (default 300)
  --no-plots         do not run plots/report.py on the folder
  -h, --help         this text
USAGE
}

die() { printf 'run_bench.sh: %s\n' "$*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --build) [ $# -ge 2 ] || die "--build needs a folder"; build="$2"; shift 2 ;;
    --build=*) build="${1#*=}"; shift ;;
    --min-time) [ $# -ge 2 ] || die "--min-time needs seconds"; min_time="$2"; shift 2 ;;
    --min-time=*) min_time="${1#*=}"; shift ;;
    --repetitions) [ $# -ge 2 ] || die "--repetitions needs a count"; repetitions="$2"; shift 2 ;;
    --repetitions=*) repetitions="${1#*=}"; shift ;;
    --filter) [ $# -ge 2 ] || die "--filter needs a regex"; filter="$2"; shift 2 ;;
    --filter=*) filter="${1#*=}"; shift ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs seconds"; per_binary_timeout="$2"; shift 2 ;;
    --timeout=*) per_binary_timeout="${1#*=}"; shift ;;
    --no-plots) plots=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ "$min_time" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--min-time must be seconds, e.g. 0.2"
[[ "$repetitions" =~ ^[1-9][0-9]*$ ]] || die "--repetitions must be a positive count"
[[ "$per_binary_timeout" =~ ^[1-9][0-9]*$ ]] || die "--timeout must be whole seconds"

if [ -z "$out" ]; then
  out="$ROOT/results/$(date -u +%Y%m%dT%H%M%SZ)"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

args=(--benchmark_format=json "--benchmark_min_time=$min_time"
      "--benchmark_repetitions=$repetitions")
[ -n "$filter" ] && args+=("--benchmark_filter=$filter")

inputs=()
failed=0
for name in "${BINARIES[@]}"; do
  bin="$build/bench/$name"
  if [ ! -x "$bin" ]; then
    echo "run_bench.sh: $bin missing (build first: ./run_all.sh build)" >&2
    failed=1
    continue
  fi
  echo "run_bench.sh: $name ..." >&2
  status=0
  timeout --kill-after=10 "$per_binary_timeout" "$bin" "${args[@]}" \
    >"$tmp/$name.json" 2>"$tmp/$name.err" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "run_bench.sh: $name failed (exit $status):" >&2
    tail -n 5 "$tmp/$name.err" >&2
    failed=1
  fi
  # A filter that matches nothing in this binary leaves no JSON: not an error.
  if [ -s "$tmp/$name.json" ]; then
    inputs+=("$tmp/$name.json")
  fi
done
[ "${#inputs[@]}" -gt 0 ] || die "no benchmark produced output"

commit="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
"$PYTHON" "$ROOT/bench/bench_json.py" merge "$out/microbench.json" "${inputs[@]}" \
  --context "git_commit=$commit" \
  --context "command=bench/run_bench.sh --min-time $min_time --repetitions $repetitions${filter:+ --filter $filter}"
"$PYTHON" "$ROOT/bench/bench_json.py" table "$out/microbench.json"

if [ "$plots" = 1 ] && [ -f "$ROOT/plots/report.py" ]; then
  "$PYTHON" "$ROOT/plots/report.py" "$out" >/dev/null ||
    echo "run_bench.sh: charts failed (microbench.json is intact)" >&2
fi
echo "run_bench.sh: $out/microbench.json" >&2
exit "$failed"
