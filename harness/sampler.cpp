// sampler.cpp: see sampler.h.
#include "sampler.h"

#include <time.h>

#include <algorithm>
#include <utility>

#include "procfs.h"

namespace cb::harness {
namespace {

using Clock = std::chrono::steady_clock;

// The whole thread group's CPU time in ns (exited threads included); 0 if
// the process is gone.
uint64_t process_cpu_ns(pid_t pid) {
  clockid_t clock;
  timespec ts{};
  if (::clock_getcpuclockid(pid, &clock) != 0 || ::clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Reads every task of `pid` into `out`.
void read_tasks(pid_t pid, std::unordered_map<pid_t, TaskRecord>& out) {
  for (pid_t tid : procfs::list_tasks(pid)) {
    auto cs = procfs::read_task_switches(pid, tid);
    if (!cs) continue;  // exited between the listing and the read
    out[tid] = TaskRecord{pid, cs->voluntary, cs->involuntary};
  }
}

TreeSample walk(pid_t root, const SampleOptions& options) {
  TreeSample s;
  s.taken = Clock::now();
  uint64_t pss = 0;
  bool pss_ok = options.pss;
  uint64_t read_bytes = 0;
  bool io_ok = options.io;
  for (const procfs::ProcStat& p : procfs::process_tree(root)) {
    s.root_alive = s.root_alive || (p.pid == root && p.state != 'Z');
    s.pids.insert(p.pid);
    ++s.processes;
    s.threads += p.num_threads;
    s.cpu_ns += process_cpu_ns(p.pid);
    s.utime_ticks += p.utime_ticks;
    s.stime_ticks += p.stime_ticks;
    if (options.pss && p.state != 'Z') {
      auto kb = procfs::read_pss_kb(p.pid);
      if (kb) pss += *kb;
      // A process that exits mid-walk just drops out; only a root whose
      // smaps cannot be read at all makes the figure unknown.
      else if (p.pid == root) pss_ok = false;
    }
    if (options.io && p.state != 'Z') {
      auto bytes = procfs::read_io_read_bytes(p.pid);
      if (bytes) read_bytes += *bytes;
      else if (p.pid == root) io_ok = false;
    }
    if (options.tasks && p.num_threads == 1) {
      // One thread: its status is the process's; no task directory to list.
      auto text = procfs::read_file("/proc/" + std::to_string(p.pid) + "/status");
      if (auto cs = text ? procfs::parse_context_switches(*text) : std::nullopt) {
        s.tasks[p.pid] = TaskRecord{p.pid, cs->voluntary, cs->involuntary};
      }
    } else if (options.tasks) {
      read_tasks(p.pid, s.tasks);
    }
  }
  if (pss_ok && s.processes > 0) s.pss_kb = pss;
  if (io_ok && s.processes > 0) s.read_bytes = read_bytes;
  s.cost_s = std::chrono::duration<double>(Clock::now() - s.taken).count();
  return s;
}

bool same(const ReapedTotals& a, const ReapedTotals& b) {
  return a.reaped == b.reaped && a.user_us == b.user_us && a.sys_us == b.sys_us &&
         a.voluntary_cs == b.voluntary_cs && a.involuntary_cs == b.involuntary_cs;
}

// Differences of monotonically growing totals; a figure that went backwards
// (a reading race) counts as no growth rather than as a huge unsigned value.
uint64_t grown(uint64_t later, uint64_t earlier) { return later > earlier ? later - earlier : 0; }

// Seconds of user and system time the sample knows of: live processes in
// whole ticks, reaped children exactly.
std::pair<double, double> user_sys_estimate(const TreeSample& s) {
  const double tick = 1.0 / static_cast<double>(procfs::clock_ticks_per_s());
  return {static_cast<double>(s.utime_ticks) * tick + static_cast<double>(s.reaped.user_us) / 1e6,
          static_cast<double>(s.stime_ticks) * tick + static_cast<double>(s.reaped.sys_us) / 1e6};
}

// The user part of the window's CPU (see sampler.h).
double user_share(const TreeSample& first, const TreeSample& last) {
  auto [u0, s0] = user_sys_estimate(first);
  auto [u1, s1] = user_sys_estimate(last);
  double du = std::max(0.0, u1 - u0), ds = std::max(0.0, s1 - s0);
  double min_s = static_cast<double>(kSplitMinTicks) / static_cast<double>(procfs::clock_ticks_per_s());
  if (du + ds >= min_s) return du / (du + ds);
  if (u1 + s1 > 0) return u1 / (u1 + s1);
  return 0;
}

double total_cpu_s(const TreeSample& s) {
  return static_cast<double>(s.cpu_ns) / 1e9 + static_cast<double>(s.reaped.user_us + s.reaped.sys_us) / 1e6;
}

}  // namespace

ReapedTotals read_reaped(const CounterBlock* c) {
  if (c == nullptr) return {};
  auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_acquire); };
  return ReapedTotals{get(c->children_reaped), get(c->children_user_us), get(c->children_sys_us),
                      get(c->children_voluntary_cs), get(c->children_involuntary_cs)};
}

uint64_t TreeSample::live_voluntary() const {
  uint64_t n = 0;
  for (const auto& [tid, t] : tasks) n += t.voluntary;
  return n;
}

uint64_t TreeSample::live_involuntary() const {
  uint64_t n = 0;
  for (const auto& [tid, t] : tasks) n += t.involuntary;
  return n;
}

TreeSample sample_tree(pid_t root, const CounterBlock* counters, const SampleOptions& options) {
  // A child reaped while the tree is walked would be counted twice or not
  // at all; the counters moving is the sign, and the walk is repeated.
  constexpr int kAttempts = 5;
  TreeSample s;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ReapedTotals before = read_reaped(counters);
    s = walk(root, options);
    s.reaped = read_reaped(counters);
    if (same(before, s.reaped)) break;
  }
  return s;
}

void WindowTracker::add(const TreeSample& sample) {
  if (!first_) first_ = sample;
  for (const auto& [tid, t] : sample.tasks) last_seen_[tid] = t;
  if (sample.pss_kb) pss_peak_kb_ = std::max(pss_peak_kb_.value_or(0), *sample.pss_kb);
  threads_peak_ = std::max(threads_peak_, sample.threads);
  processes_peak_ = std::max(processes_peak_, sample.processes);
}

WindowFigures WindowTracker::finish(const TreeSample& last) const {
  WindowFigures w;
  if (!first_) return w;
  const TreeSample& first = *first_;
  w.duration_s = std::chrono::duration<double>(last.taken - first.taken).count();
  double cpu_s = std::max(0.0, total_cpu_s(last) - total_cpu_s(first));
  double share = user_share(first, last);
  w.cpu_user_s = cpu_s * share;
  w.cpu_sys_s = cpu_s * (1 - share);

  // End total: live tasks now, plus threads that vanished from a process
  // that is still alive (kept at their last seen value).
  uint64_t end_vol = last.live_voluntary();
  uint64_t end_invol = last.live_involuntary();
  int exited = 0;
  for (const auto& [tid, t] : last_seen_) {
    if (last.tasks.count(tid) != 0 || last.pids.count(t.tgid) == 0) continue;
    end_vol += t.voluntary;
    end_invol += t.involuntary;
    ++exited;
  }
  end_vol += last.reaped.voluntary_cs;
  end_invol += last.reaped.involuntary_cs;
  w.voluntary_cs = grown(end_vol, first.live_voluntary() + first.reaped.voluntary_cs);
  w.involuntary_cs = grown(end_invol, first.live_involuntary() + first.reaped.involuntary_cs);
  w.threads_exited = exited;
  if (first.read_bytes && last.read_bytes) w.read_bytes = grown(*last.read_bytes, *first.read_bytes);
  w.pss_peak_kb = pss_peak_kb_;
  w.threads_peak = threads_peak_;
  w.processes_peak = processes_peak_;
  return w;
}

}  // namespace cb::harness
