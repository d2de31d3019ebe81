// sampler.h: measures the server's process tree from outside, through /proc
// and the server's shared counters, and turns samples into window figures.
//
// What is counted, and how exits inside the window are handled:
//  * CPU: each live process's own CPU clock (clock_getcpuclockid: the
//    whole thread group in nanoseconds, threads that already exited
//    included) plus, for processes that exited and were reaped by the
//    server, the server's counters (children_user_us/children_sys_us, from
//    wait4's rusage). Window CPU = (live + reaped) at the end − (live +
//    reaped) at the start: a child alive at the start and reaped inside the
//    window contributes exactly what it used in the window. The kernel
//    shows the user/system split of a live process only in whole clock
//    ticks (/proc/PID/stat utime/stime, 10 ms), far too coarse for a
//    thousand processes that each use a few ms, so the total is exact and
//    its split is estimated: the utime:stime ratio of the tree (ticks of
//    live processes, exact figures of reaped ones) over the window when at
//    least kSplitMinTicks ticks' worth moved, else over the tree's
//    lifetime, else all of it counts as system time (where these I/O-bound
//    servers spend most of theirs).
//  * Context switches: the kernel gives per-thread figures only
//    (/proc/PID/task/TID/status); the process-wide total including dead
//    threads exists only for getrusage(RUSAGE_SELF) and for the parent's
//    wait4. So: live threads of every process are summed, reaped processes
//    come from the server's counters (children_*_cs, wait4's rusage, which
//    covers all their threads), and a thread that disappears while its
//    process lives on is kept at the last value a sample saw (switches
//    after that sample are missed, and the run gets a warning naming how
//    many threads exited). In the measured window connections stay open, so
//    the per-connection threads of thread:per-conn do not exit there.
//  * Consistency: the counters are read before and after walking the tree;
//    if a child was reaped meanwhile the sample is taken again, so a child
//    is never counted both live and reaped (nor neither).
//  * Disk reads (when asked): /proc/PID/io read_bytes summed over the live
//    processes of the tree (each covers its exited threads too); children
//    reaped inside the window are missed, which the per-connection models
//    avoid since connections stay open through it.
//  * Memory: PSS (KiB) from /proc/PID/smaps_rollup summed over the tree;
//    threads and processes counted per sample. Peaks are over the samples.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "common/counters.h"

namespace cb::harness {

// What the server's counters say about children it reaped.
struct ReapedTotals {
  uint64_t reaped = 0;
  uint64_t user_us = 0;
  uint64_t sys_us = 0;
  uint64_t voluntary_cs = 0;
  uint64_t involuntary_cs = 0;
};
ReapedTotals read_reaped(const CounterBlock* counters);

struct TaskRecord {
  pid_t tgid = 0;
  uint64_t voluntary = 0;
  uint64_t involuntary = 0;
};

struct TreeSample {
  std::chrono::steady_clock::time_point taken{};  // when the walk started
  double cost_s = 0;                               // how long it took
  bool root_alive = false;
  int processes = 0;
  int64_t threads = 0;
  uint64_t cpu_ns = 0;       // live processes' CPU clocks
  uint64_t utime_ticks = 0;  // live processes, for the user/system split
  uint64_t stime_ticks = 0;
  std::optional<uint64_t> pss_kb;  // null when not asked for or unreadable
  // Live processes' /proc/PID/io read_bytes; null when not asked for or the
  // root's is unreadable.
  std::optional<uint64_t> read_bytes;
  std::unordered_set<pid_t> pids;
  std::unordered_map<pid_t, TaskRecord> tasks;  // by tid; empty unless asked
  ReapedTotals reaped;

  uint64_t live_voluntary() const;
  uint64_t live_involuntary() const;
};

struct SampleOptions {
  bool pss = true;
  bool tasks = true;
  bool io = false;  // read_bytes (disk workloads)
};

// Takes one consistent sample of the tree rooted at `root`. `counters` may
// be null (then reaped children are unknown and count as zero).
TreeSample sample_tree(pid_t root, const CounterBlock* counters, const SampleOptions& options = {});

// Figures of the server over a window, from its first and last sample plus
// whatever was seen in between (peaks, exited threads).
// Fewer ticks than this over the window make its utime:stime ratio noise.
inline constexpr uint64_t kSplitMinTicks = 20;

struct WindowFigures {
  double duration_s = 0;  // between the two samples
  double cpu_user_s = 0;
  double cpu_sys_s = 0;
  uint64_t voluntary_cs = 0;
  uint64_t involuntary_cs = 0;
  std::optional<uint64_t> pss_peak_kb;
  int64_t threads_peak = 0;
  int processes_peak = 0;
  int threads_exited = 0;  // threads that vanished from live processes
  std::optional<uint64_t> read_bytes;  // disk reads between the two samples, if both had them
};

// Accumulates samples of one window.
class WindowTracker {
 public:
  void add(const TreeSample& sample);  // the first call is the start sample
  bool started() const { return first_.has_value(); }
  // Call after the last add(); `last` must be the sample added last.
  WindowFigures finish(const TreeSample& last) const;

 private:
  std::optional<TreeSample> first_;
  std::unordered_map<pid_t, TaskRecord> last_seen_;  // every task seen, latest values
  std::optional<uint64_t> pss_peak_kb_;
  int64_t threads_peak_ = 0;
  int processes_peak_ = 0;
};

}  // namespace cb::harness
