// noise.h: CPU over time, and what else used the machine.
//
// Through the warm-up and the window the monitor takes a CpuPoint about
// every interval (timeseries.h of loadgen): the server tree's CPU (live
// clocks + reaped children), the harness's own CPU (the load threads are
// in it), the backend's, and /proc/stat (busy, steal and total ticks per
// CPU). Each point's figures are cumulative, so any span's figure is the
// difference of two values interpolated linearly between points; points
// need not fall on interval boundaries.
//
// From them:
//  * per interval of the load generator's series: server CPU (% of one
//    CPU), load-side CPU (harness + backend), steal on the server CPUs and
//    CPU used by other processes;
//  * per run (the window): steal on the server and on the client CPUs (% of
//    their ticks) and other processes' CPU: busy ticks of every CPU (user,
//    nice, system; interrupts are left out because the kernel charges
//    loopback's softirq work there) minus server, harness and backend.
//    Ticks are 10 ms, so a 250 ms interval's figures are coarse (±4% of a
//    CPU) while a window's are not.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cb::harness {

struct CpuTicks {
  uint64_t busy = 0;   // user + nice + system
  uint64_t steal = 0;
  uint64_t total = 0;  // every column but guest (already in user)
};

// The "cpuN ..." lines of /proc/stat, indexed by N (missing CPUs zero).
std::vector<CpuTicks> parse_proc_stat(std::string_view text);

struct CpuPoint {
  int64_t t_ns = 0;  // steady_clock (CLOCK_MONOTONIC)
  double server_cpu_s = 0;
  double self_cpu_s = 0;     // the harness: load threads, monitor, progress
  double backend_cpu_s = 0;  // 0 without a backend
  std::vector<CpuTicks> cpus;
};

// The harness's own CPU and /proc/stat, now; server and backend CPU are
// the caller's (it has the tree sample).
CpuPoint cpu_point_now(double server_cpu_s, double backend_cpu_s);

struct NoiseFigures {
  double span_s = 0;
  std::optional<double> steal_server_cpus_pct, steal_client_cpus_pct;
  double other_cpu_s = 0;
  double other_cpu_pct = 0;  // of one CPU, over the span
};

// Warnings above these: a machine this noisy measures its neighbours too.
inline constexpr double kStealWarnPct = 2.0;
inline constexpr double kOtherCpuWarnPct = 10.0;  // 10% of one CPU

class CpuSeries {
 public:
  CpuSeries(std::vector<int> server_cpus, std::vector<int> client_cpus)
      : server_cpus_(std::move(server_cpus)), client_cpus_(std::move(client_cpus)) {}

  void add(CpuPoint p) { points_.push_back(std::move(p)); }
  const std::vector<CpuPoint>& points() const { return points_; }

  // Figures over [from_ns, to_ns) cut to the sampled span; nullopt with
  // fewer than two points or no overlap.
  std::optional<NoiseFigures> over(int64_t from_ns, int64_t to_ns) const;

  // Adds to each interval of a loadgen time series (results.timeseries;
  // start_s relative to window_start_ns) server_cpu_pct, load_cpu_pct,
  // server_cpu_us_per_request, steal_server_cpus_pct and
  // other_processes_cpu_pct (null where the interval was not sampled).
  void annotate(nlohmann::ordered_json& series, int64_t window_start_ns) const;

  // Warnings for a run whose window's figures are `f`.
  static std::vector<std::string> warnings(const NoiseFigures& f);

 private:
  struct Scalars {
    double server = 0, self = 0, backend = 0, busy_all_s = 0;
    double steal_server = 0, total_server = 0, steal_client = 0, total_client = 0;
  };
  Scalars scalars(const CpuPoint& p) const;
  // Cumulative figures at `t_ns`, interpolated (clamped to the points).
  Scalars at(int64_t t_ns) const;

  std::vector<int> server_cpus_, client_cpus_;
  std::vector<CpuPoint> points_;
};

}  // namespace cb::harness
