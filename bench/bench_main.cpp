// bench_main.cpp: the main() of every micro-benchmark binary: Google
// Benchmark's usual main plus this project's context notes in the JSON.
//   build/bench/<binary> [--benchmark_filter=RE] [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include "bench_util.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  cb::bench::add_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
