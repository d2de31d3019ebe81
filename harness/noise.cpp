// noise.cpp: see noise.h.
#include "noise.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "procfs.h"

namespace cb::harness {

std::vector<CpuTicks> parse_proc_stat(std::string_view text) {
  std::vector<CpuTicks> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] < '0' || line[3] > '9') continue;
    unsigned cpu = 0;
    unsigned long long v[8] = {};
    int n = std::sscanf(line.c_str(), "cpu%u %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2],
                        &v[3], &v[4], &v[5], &v[6], &v[7]);
    if (n < 5 || cpu > 4096) continue;
    if (out.size() <= cpu) out.resize(cpu + 1);
    // user nice system idle iowait irq softirq steal
    CpuTicks& t = out[cpu];
    t.busy = v[0] + v[1] + v[2];
    t.steal = n >= 9 ? v[7] : 0;
    t.total = 0;
    for (int i = 0; i < n - 1 && i < 8; ++i) t.total += v[i];
  }
  return out;
}

CpuPoint cpu_point_now(double server_cpu_s, double backend_cpu_s) {
  CpuPoint p;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  p.t_ns = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  timespec self{};
  if (::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &self) == 0) {
    p.self_cpu_s = static_cast<double>(self.tv_sec) + static_cast<double>(self.tv_nsec) / 1e9;
  }
  p.server_cpu_s = server_cpu_s;
  p.backend_cpu_s = backend_cpu_s;
  if (auto stat = procfs::read_file("/proc/stat")) p.cpus = parse_proc_stat(*stat);
  return p;
}

CpuSeries::Scalars CpuSeries::scalars(const CpuPoint& p) const {
  Scalars s;
  s.server = p.server_cpu_s;
  s.self = p.self_cpu_s;
  s.backend = p.backend_cpu_s;
  double hz = static_cast<double>(procfs::clock_ticks_per_s());
  for (const CpuTicks& t : p.cpus) s.busy_all_s += static_cast<double>(t.busy) / hz;
  auto add = [&](const std::vector<int>& cpus, double& steal, double& total) {
    for (int c : cpus) {
      if (c >= 0 && static_cast<std::size_t>(c) < p.cpus.size()) {
        steal += static_cast<double>(p.cpus[static_cast<std::size_t>(c)].steal);
        total += static_cast<double>(p.cpus[static_cast<std::size_t>(c)].total);
      }
    }
  };
  add(server_cpus_, s.steal_server, s.total_server);
  add(client_cpus_, s.steal_client, s.total_client);
  return s;
}

CpuSeries::Scalars CpuSeries::at(int64_t t) const {
  if (t <= points_.front().t_ns) return scalars(points_.front());
  if (t >= points_.back().t_ns) return scalars(points_.back());
  auto hi = std::upper_bound(points_.begin(), points_.end(), t,
                             [](int64_t v, const CpuPoint& p) { return v < p.t_ns; });
  auto lo = hi - 1;
  Scalars a = scalars(*lo), b = scalars(*hi);
  double f = static_cast<double>(t - lo->t_ns) / static_cast<double>(hi->t_ns - lo->t_ns);
  auto mix = [f](double x, double y) { return x + (y - x) * f; };
  return {mix(a.server, b.server),         mix(a.self, b.self),
          mix(a.backend, b.backend),       mix(a.busy_all_s, b.busy_all_s),
          mix(a.steal_server, b.steal_server), mix(a.total_server, b.total_server),
          mix(a.steal_client, b.steal_client), mix(a.total_client, b.total_client)};
}

std::optional<NoiseFigures> CpuSeries::over(int64_t from, int64_t to) const {
  if (points_.size() < 2) return std::nullopt;
  from = std::max(from, points_.front().t_ns);
  to = std::min(to, points_.back().t_ns);
  if (to <= from) return std::nullopt;
  Scalars a = at(from), b = at(to);
  NoiseFigures f;
  f.span_s = static_cast<double>(to - from) / 1e9;
  if (b.total_server > a.total_server) {
    f.steal_server_cpus_pct = 100.0 * (b.steal_server - a.steal_server) / (b.total_server - a.total_server);
  }
  if (b.total_client > a.total_client) {
    f.steal_client_cpus_pct = 100.0 * (b.steal_client - a.steal_client) / (b.total_client - a.total_client);
  }
  double known = (b.server - a.server) + (b.self - a.self) + (b.backend - a.backend);
  f.other_cpu_s = std::max(0.0, (b.busy_all_s - a.busy_all_s) - known);
  f.other_cpu_pct = 100.0 * f.other_cpu_s / f.span_s;
  return f;
}

void CpuSeries::annotate(nlohmann::ordered_json& series, int64_t window_start_ns) const {
  if (!series.is_object() || !series.contains("intervals")) return;
  for (auto& iv : series["intervals"]) {
    nlohmann::ordered_json server = nullptr, load = nullptr, per_req = nullptr, steal = nullptr, other = nullptr;
    if (points_.size() >= 2 && iv.contains("start_s") && iv.contains("duration_s")) {
      auto from = window_start_ns + static_cast<int64_t>(iv["start_s"].get<double>() * 1e9);
      auto to = from + static_cast<int64_t>(iv["duration_s"].get<double>() * 1e9);
      // The part of the interval the points cover, if at least half of it
      // (the last point is taken a little before the window's end): its
      // rates stand for the whole interval.
      int64_t lo = std::max(from, points_.front().t_ns), hi = std::min(to, points_.back().t_ns);
      if (to > from && hi > lo && 2 * (hi - lo) >= to - from) {
        Scalars a = at(lo), b = at(hi);
        double span = static_cast<double>(hi - lo) / 1e9;
        double dur = static_cast<double>(to - from) / 1e9;
        double cpu = b.server - a.server;
        server = 100.0 * cpu / span;
        load = 100.0 * ((b.self - a.self) + (b.backend - a.backend)) / span;
        uint64_t requests = iv.value("requests", uint64_t{0});
        if (requests > 0) per_req = cpu / span * dur * 1e6 / static_cast<double>(requests);
        if (b.total_server > a.total_server) {
          steal = 100.0 * (b.steal_server - a.steal_server) / (b.total_server - a.total_server);
        }
        double known = cpu + (b.self - a.self) + (b.backend - a.backend);
        other = 100.0 * std::max(0.0, (b.busy_all_s - a.busy_all_s) - known) / span;
      }
    }
    iv["server_cpu_pct"] = server;
    iv["load_cpu_pct"] = load;
    iv["server_cpu_us_per_request"] = per_req;
    iv["steal_server_cpus_pct"] = steal;
    iv["other_processes_cpu_pct"] = other;
  }
}

std::vector<std::string> CpuSeries::warnings(const NoiseFigures& f) {
  std::vector<std::string> out;
  if (f.steal_server_cpus_pct && *f.steal_server_cpus_pct > kStealWarnPct) {
    out.push_back(fmt::format("noisy machine: {:.0f}% steal on the server CPUs", *f.steal_server_cpus_pct));
  }
  if (f.steal_client_cpus_pct && *f.steal_client_cpus_pct > kStealWarnPct) {
    out.push_back(fmt::format("noisy machine: {:.0f}% steal on the client CPUs", *f.steal_client_cpus_pct));
  }
  if (f.other_cpu_pct > kOtherCpuWarnPct) {
    out.push_back(fmt::format("noisy machine: other processes used {:.0f}% of a CPU in the window", f.other_cpu_pct));
  }
  return out;
}

}  // namespace cb::harness
