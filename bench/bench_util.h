// bench_util.h: what the micro-benchmarks share: CPU pinning, a loop clock
// for per-operation counters, child processes that cannot leak, and the
// /proc readers the memory benchmarks measure with.
//
// Every benchmark here is named FAMILY/variant[/...] (BM_Switch/...,
// BM_Create/..., BM_Readiness/..., BM_Memory/..., BM_Floor/...): the plots
// group by the part before the first '/'. Counters carry their unit in
// their name (ns_per_switch, pss_kb_per_item).
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/cpu.h"  // allowed_cpus, pin_current_thread

namespace cb::bench {

// --- CPUs ---

// Where the two ends of a ping-pong run.
enum class Placement { kSameCpu, kCrossCpu };

struct CpuPair {
  int first = 0;
  int second = 0;
};

// The CPUs for a placement: both ends on the first allowed CPU, or on the
// first two. Empty when the placement needs two CPUs and only one is allowed.
std::optional<CpuPair> cpus_for(Placement placement);

// Pins the calling thread for the lifetime of the object, then restores the
// mask it had (the benchmark's main thread runs every other benchmark too).
class ScopedPin {
 public:
  explicit ScopedPin(int cpu);
  ~ScopedPin();
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  bool ok() const { return ok_; }

 private:
  cpu_set_t saved_{};
  bool saved_ok_ = false;
  bool ok_ = false;
};

// --- per-operation counters ---

// Wall time of a whole `for (auto _ : state)` loop, taken from just before to
// just after it, so a counter can state a per-operation cost in its own unit
// (Google Benchmark's inverted rate counters come out in seconds whatever the
// key says). Start/stop bookkeeping of the loop adds well under a
// microsecond to the whole loop: nothing per operation.
class LoopClock {
 public:
  LoopClock() : start_(std::chrono::steady_clock::now()) {}
  // Sets counters[key] = elapsed ns / (iterations * ops_per_iteration).
  void report_ns(benchmark::State& state, const char* key, double ops_per_iteration) const;

 private:
  std::chrono::steady_clock::time_point start_;
};

// --- child processes ---

// A forked child, killed (SIGKILL) and reaped when the owner goes away
// unless it was reaped already with wait().
class Child {
 public:
  Child() = default;
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  bool valid() const { return pid_ > 0; }
  // Waits for the child to exit; true if it exited with status 0.
  bool wait();

 private:
  void kill_and_reap();
  pid_t pid_ = -1;
};

// --- /proc readers (kB, as the kernel prints them; -1 when unreadable) ---

// "Pss:" of /proc/<pid>/smaps_rollup (0 = this process).
int64_t pss_kb(pid_t pid = 0);
// A "Name:  N kB" field of /proc/<pid>/status, e.g. "VmPTE" (0 = this process).
int64_t status_kb(const char* field, pid_t pid = 0);
// A field of /proc/meminfo, e.g. "KernelStack" (system-wide).
int64_t meminfo_kb(const char* field);

// --- context ---

// Adds this project's notes to the JSON context (build type, the Debian
// library's debug label, kernel, CPUs, limits). Called by bench_main.cpp.
void add_context();

}  // namespace cb::bench
