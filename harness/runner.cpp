// runner.cpp: see runner.h.
#include "runner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <cstring>
#include <optional>
#include <thread>

#include <sys/stat.h>

#include <fmt/format.h>

#include <time.h>

#include <nlohmann/json.hpp>

#include "backend_control.h"
#include "dataset.h"
#include "memory_cgroup.h"
#include "common/shutdown.h"
#include "loadgen/load.h"
#include "noise.h"
#include "peers.h"
#include "procfs.h"
#include "sampler.h"
#include "server_control.h"
#include "workspace.h"

namespace cb::harness {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration;
using std::chrono::milliseconds;

constexpr milliseconds kMonitorTick{5};
// Added to the last sample's head start: scheduling delays of the monitor.
constexpr milliseconds kLastSampleSlack{30};
// The settle time after the probe before the idle PSS is read.
constexpr milliseconds kIdleSettle{1'000};
// A run that outlives its plan by this much is stopped (a wedged load).
constexpr std::chrono::seconds kOverrun{30};
// Fail a run when more than one request in this many ends in an error.
constexpr uint64_t kErrorFailRatio = 100;
// Eviction left more than this share of sampled pages cached: warn.
constexpr double kResidentWarning = 0.05;

// Memory cgroups made by this harness get distinct names.
std::atomic<int> cgroup_serial{0};

// Watches one run from its own thread: crash detection, window samples,
// progress line. Owns nothing the main thread touches until joined.
//
// Samples: the first at the window's start (CPU clocks, stat, every task's
// switches: no PSS, so it is as short as can be), then PSS-and-tasks
// samples every sample_every (or 4x their cost, whichever is longer), then
// the last like the first, started twice the first one's cost ahead of the
// window's end so it is over before any connection closes.
class Monitor {
 public:
  Monitor(ServerControl& server, BackendControl* backend, loadgen::LoadControl& control, const RunSettings& s,
          int connections, bool disk, Progress& progress)
      : server_(server),
        backend_(backend),
        control_(control),
        s_(s),
        connections_(connections),
        disk_(disk),
        progress_(progress),
        cpu_(s.server_cpus, s.client_cpus) {}

  void run() {
    while (!stop_.load()) {
      auto now = Clock::now();
      if (auto exited = server_.check_exited()) {
        crash_ = *exited + " during the " + phase_name_;
        control_.stop();
        return;
      }
      if (backend_ != nullptr) {
        if (auto exited = backend_->check_exited()) {
          crash_ = *exited + " during the " + phase_name_;
          control_.stop();
          return;
        }
      }
      loadgen::Progress p = control_.progress();
      if (p.phase == loadgen::Progress::Phase::kDone) break;
      if (p.phase != loadgen::Progress::Phase::kIdle) step(p, now);
      std::this_thread::sleep_for(kMonitorTick);
    }
    finish_early();
  }

  void request_stop() { stop_.store(true); }
  const std::optional<std::string>& crash() const { return crash_; }
  const std::optional<WindowFigures>& window() const { return window_; }
  bool overran() const { return overran_; }
  // The backend's CPU between the window's first and last server samples
  // (the same span the server's figures cover), if it ran and was sampled.
  std::optional<double> backend_cpu_s() const {
    if (backend_cpu_first_ns_ == 0 || backend_cpu_last_ns_ < backend_cpu_first_ns_) return std::nullopt;
    return static_cast<double>(backend_cpu_last_ns_ - backend_cpu_first_ns_) / 1e9;
  }
  // How long the last sample ran past the window's end, if it did.
  std::optional<double> late_ms() const { return late_ms_; }
  // CPU points through the warm-up and the window (noise.h).
  const CpuSeries& cpu_series() const { return cpu_; }
  // Connections the server had accepted and not closed at the last sample.
  std::optional<uint64_t> open_at_end() const { return open_at_end_; }
  // How long before the window's end the sampled span closed, if early.
  std::optional<double> early_s() const { return early_s_; }

 private:
  static Clock::duration to_clock(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(duration<double>(seconds));
  }

  // The load's timeline is fixed when it starts, as run_load plans it:
  // the connect ramp, then the warm-up, then the window.
  void plan(const loadgen::Progress& p, Clock::time_point now) {
    started_ = now - to_clock(p.elapsed_s);
    double ramp_s = s_.connect_rate_per_s > 0 ? connections_ / s_.connect_rate_per_s : 0.0;
    warmup_at_ = started_ + to_clock(ramp_s);
    measure_at_ = warmup_at_ + std::chrono::duration_cast<Clock::duration>(s_.warmup);
    end_at_ = measure_at_ + std::chrono::duration_cast<Clock::duration>(s_.duration);
    timeline_ = true;
  }

  void step(const loadgen::Progress& p, Clock::time_point now) {
    if (!timeline_) plan(p, now);
    if (now >= measure_at_) sample_window();
    if (now >= warmup_at_ && !window_) sample_point();
    if (now > end_at_ + kOverrun && !overran_) {
      overran_ = true;
      control_.stop();
    }
    show(p, now);
  }

  void sample_window() {
    if (window_) return;
    auto now = Clock::now();  // fresh: this thread may have waited for a CPU
    pid_t pid = server_.pid();
    if (!tracker_.started()) {
      TreeSample first = sample_tree(pid, server_.counters(), {.pss = false, .tasks = true, .io = disk_});
      backend_cpu_first_ns_ = backend_cpu_ns();
      add_point(first);
      first_cost_s_ = first.cost_s;
      mid_cost_s_ = 2 * first.cost_s;  // PSS makes a sample dearer; a guess until one is timed
      tracker_.add(first);
      next_sample_ = Clock::now();
      phase_name_ = "measured window";
      return;
    }
    auto ahead = last_sample_ahead();
    if (now >= end_at_ - ahead) {
      TreeSample last = sample_tree(pid, server_.counters(), {.pss = false, .tasks = true, .io = disk_});
      backend_cpu_last_ns_ = backend_cpu_ns();
      add_point(last);
      note_open_connections();
      tracker_.add(last);
      window_ = tracker_.finish(last);
      if (auto late = last.taken + to_clock(last.cost_s) - end_at_; late > Clock::duration::zero()) {
        late_ms_ = std::chrono::duration<double, std::milli>(late).count();
      }
      phase_name_ = "end of the run";
    } else if (now >= next_sample_ && now + to_clock(2 * mid_cost_s_) < end_at_ - ahead) {
      // (A PSS sample that could still be running when the last one is due
      // is not started: the last sample matters more.)
      // Disk bytes here too: a window that closes at its last mid sample
      // (finish_early) still has them.
      TreeSample mid = sample_tree(pid, server_.counters(), {.pss = true, .tasks = true, .io = disk_});
      tracker_.add(mid);
      last_mid_ = mid;
      mid_cost_s_ = std::max(mid_cost_s_, mid.cost_s);
      // Sampling competes with the load generator for the client CPUs:
      // under ~20% of their time even when the tree is large.
      next_sample_ = Clock::now() + std::max<Clock::duration>(s_.sample_every, to_clock(4 * mid.cost_s));
    }
  }

  // How long before the window's end the last sample starts.
  Clock::duration last_sample_ahead() const {
    return std::min(to_clock(2 * first_cost_s_) + std::chrono::duration_cast<Clock::duration>(kLastSampleSlack),
                    std::chrono::duration_cast<Clock::duration>(s_.duration / 3));
  }

  // A CPU point (noise.h) about every interval from the warm-up on, none
  // that could still run when the window's last sample is due.
  void sample_point() {
    auto now = Clock::now();
    if (now < next_point_) return;
    if (now + to_clock(2 * point_cost_s_) >= end_at_ - last_sample_ahead()) return;
    TreeSample t = sample_tree(server_.pid(), server_.counters(), {.pss = false, .tasks = false});
    add_point(t);
    point_cost_s_ = std::max(point_cost_s_, t.cost_s);
    next_point_ = Clock::now() + std::max<Clock::duration>(s_.interval, to_clock(4 * t.cost_s));
  }

  void add_point(const TreeSample& t) {
    double server = (static_cast<double>(t.cpu_ns) + static_cast<double>(t.reaped.user_us + t.reaped.sys_us) * 1e3) / 1e9;
    cpu_.add(cpu_point_now(server, static_cast<double>(backend_cpu_ns()) / 1e9));
  }

  // The backend's CPU clock (one thread, one process), 0 if unknown.
  uint64_t backend_cpu_ns() const {
    if (backend_ == nullptr || backend_->pid() <= 0) return 0;
    clockid_t clock;
    timespec ts{};
    if (::clock_getcpuclockid(backend_->pid(), &clock) != 0 || ::clock_gettime(clock, &ts) != 0) return 0;
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
  }

  // The load ended before the last sample (a sample ran long): the window
  // closes at the last PSS sample instead, if there was one.
  void finish_early() {
    if (window_ || !last_mid_) return;
    note_open_connections();
    window_ = tracker_.finish(*last_mid_);
    double early = duration<double>(end_at_ - last_mid_->taken).count();
    if (early > 0) early_s_ = early;
  }

  // Connections the server holds open near the window's end (its counters).
  void note_open_connections() {
    if (const CounterBlock* c = server_.counters()) {
      uint64_t accepted = c->connections_accepted.load(), closed = c->connections_closed.load();
      open_at_end_ = accepted > closed ? accepted - closed : 0;
    }
  }

  // Current requests/s over the last half second or more.
  void show(const loadgen::Progress& p, Clock::time_point now) {
    if (last_requests_at_ == Clock::time_point{}) {
      last_requests_ = p.requests;
      last_requests_at_ = now;
    } else if (double dt = duration<double>(now - last_requests_at_).count(); dt >= 0.5) {
      rps_ = static_cast<double>(p.requests - last_requests_) / dt;
      last_requests_ = p.requests;
      last_requests_at_ = now;
    }
    auto seconds = [](Clock::duration d) { return std::max(0.0, duration<double>(d).count()); };
    if (now < warmup_at_) {
      progress_.update(fmt::format("connecting ({} open)", p.connections_open), seconds(now - started_),
                       seconds(warmup_at_ - started_), rps_);
    } else if (now < measure_at_) {
      progress_.update("warm-up", seconds(now - warmup_at_), seconds(measure_at_ - warmup_at_), rps_);
    } else {
      progress_.update("measuring", std::min(seconds(now - measure_at_), seconds(end_at_ - measure_at_)),
                       seconds(end_at_ - measure_at_), rps_);
    }
  }

  ServerControl& server_;
  BackendControl* backend_;  // null when the run has no backend
  loadgen::LoadControl& control_;
  const RunSettings& s_;
  const double connections_;
  const bool disk_;  // samples read the tree's disk bytes
  Progress& progress_;
  std::atomic<bool> stop_{false};
  std::string phase_name_ = "warm-up";
  std::optional<std::string> crash_;
  bool timeline_ = false;
  bool overran_ = false;
  Clock::time_point started_{}, warmup_at_{}, measure_at_{}, end_at_{}, next_sample_{}, next_point_{};
  double point_cost_s_ = 0;
  WindowTracker tracker_;
  uint64_t backend_cpu_first_ns_ = 0, backend_cpu_last_ns_ = 0;
  double first_cost_s_ = 0;
  double mid_cost_s_ = 0;
  std::optional<TreeSample> last_mid_;
  std::optional<double> early_s_;
  std::optional<uint64_t> open_at_end_;
  std::optional<WindowFigures> window_;
  std::optional<double> late_ms_;
  uint64_t last_requests_ = 0;
  Clock::time_point last_requests_at_{};
  std::optional<double> rps_;
  CpuSeries cpu_;
};

LatencySummary summarize_latency(const loadgen::Histogram& h) {
  auto us = [](double ns) { return ns / 1000.0; };
  auto pct = [&](double p) { return us(static_cast<double>(h.value_at_percentile(p))); };
  LatencySummary l;
  l.mean_us = us(h.mean());
  l.stdev_us = us(h.stdev());
  l.min_us = us(static_cast<double>(h.min()));
  l.p50_us = pct(50);
  l.p75_us = pct(75);
  l.p90_us = pct(90);
  l.p99_us = pct(99);
  l.p99_9_us = pct(99.9);
  l.p99_99_us = pct(99.99);
  l.max_us = us(static_cast<double>(h.max()));
  return l;
}

loadgen::LoadConfig load_config(const Cell& cell, const RunSettings& s, const ServerControl& server) {
  loadgen::LoadConfig c;
  c.host = server.host();
  c.port = server.port();
  c.proto = cell.proto == "http" ? loadgen::Proto::kHttp : loadgen::Proto::kEcho;
  if (cell.msg_size_bytes) c.msg_size = static_cast<std::size_t>(*cell.msg_size_bytes);
  if (cell.workload) {
    c.paths.clear();
    for (const WeightedPath& p : cell.workload->paths) c.paths.push_back({p.path, p.weight});
  }
  // Extra loopback sources only for a loopback server: 127.0.0.2 cannot
  // reach another address.
  if (c.host.rfind("127.", 0) == 0) c.source_ips = source_ips_for(cell.connections);
  c.threads = s.loadgen_threads;
  c.connect_rate_per_s = s.connect_rate_per_s;
  c.connections = cell.connections;
  c.rate_per_s = cell.rate_per_s;
  c.duration = s.duration;
  c.warmup = s.warmup;
  c.interval = s.interval;
  return c;
}

// A disk cell's data set: made if missing, evicted, described in the record.
// Returns the reason when it cannot be used ("data set: ..." or "disk:...").
std::optional<std::string> prepare_disk(const Cell& cell, const RunSettings& s, RunRecord& r,
                                        std::optional<Dataset>& out) {
  const DatasetSpec& d = cell.workload->disk;
  try {
    out = Dataset::prepare(dataset_sizes(d, cell.server_memory_bytes), d.specweb, s.dataset_dir);
    EvictResult ev = out->evict();
    r.disk.eviction = "posix_fadvise(POSIX_FADV_DONTNEED) on every file";
    r.disk.eviction_s = ev.seconds;
    r.disk.resident_after_eviction_ratio = ev.resident_ratio;
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (why.rfind("data set", 0) != 0 && why.rfind("disk:", 0) != 0) why = "data set: " + why;
    return why;
  }
  std::string dir = out->dir();
  r.disk.dataset = dir.substr(dir.rfind('/') + 1);
  r.disk.dataset_files = out->files();
  r.disk.dataset_bytes = out->bytes();
  r.disk.zipf_alpha = d.zipf_alpha;
  r.disk.mean_file_bytes = out->mean_file_bytes(d.zipf_alpha);
  if (cell.server_memory_bytes) {
    r.disk.dataset_to_memory_ratio =
        static_cast<double>(out->bytes()) / static_cast<double>(*cell.server_memory_bytes);
  }
  if (*r.disk.resident_after_eviction_ratio > kResidentWarning) {
    r.warnings.push_back(fmt::format("{:.0f}% of the data set's sampled pages stayed cached after eviction",
                                     *r.disk.resident_after_eviction_ratio * 100));
  }
  return std::nullopt;
}

// What the run read from the device, per request and against what it served.
void record_disk(RunRecord& r, const WindowFigures& w, const loadgen::LoadResult& load) {
  if (!w.read_bytes || w.duration_s <= 0) return;
  double scale = load.duration_s > 0 ? load.duration_s / w.duration_s : 1.0;
  double bytes = static_cast<double>(*w.read_bytes) * scale;
  r.disk.read_bytes = static_cast<uint64_t>(std::llround(bytes));
  if (load.counters.requests == 0) return;
  double requests = static_cast<double>(load.counters.requests);
  r.disk.read_bytes_per_request = bytes / requests;
  if (r.disk.mean_file_bytes && *r.disk.mean_file_bytes > 0) {
    double served = requests * *r.disk.mean_file_bytes;
    r.disk.page_cache_hit_ratio = 1.0 - std::min(1.0, bytes / served);
  }
}

void record_load(RunRecord& r, const loadgen::LoadResult& load) {
  const loadgen::Counters& k = load.counters;
  r.duration_s = load.duration_s;
  r.requests = k.requests;
  r.requests_unanswered_through_window = k.unanswered_through_window;
  r.requests_per_s = load.requests_per_s();
  r.mb_per_s = load.duration_s > 0 ? static_cast<double>(k.bytes_read) / 1e6 / load.duration_s : 0.0;
  r.response_header_bytes_per_request = load.response_header_bytes_per_request();
  r.response_body_bytes_per_request = load.response_body_bytes_per_request();
  if (load.corrected.count() > 0) r.latency = summarize_latency(load.corrected);
  if (load.config.open_loop() && load.uncorrected.count() > 0) {
    r.latency_uncorrected = summarize_latency(load.uncorrected);
  }
  r.errors.emplace();
  for (std::size_t i = 0; i < loadgen::kErrorClassCount; ++i) {
    r.errors->emplace_back(loadgen::error_class_name(static_cast<loadgen::ErrorClass>(i)), k.errors[i]);
  }
  r.loadgen.cpu_user_s = load.cpu_user_s;
  r.loadgen.cpu_sys_s = load.cpu_sys_s;
  r.loadgen.cpu_utilization = load.cpu_utilization;
  r.loadgen.saturated = load.saturated;
  if (load.saturated) r.warnings.push_back("loadgen saturated");
  uint64_t errors = k.error_total();
  if (errors > 0) r.warnings.push_back(fmt::format("errors during run ({})", errors));
  if (k.unanswered_through_window > 0) {
    r.warnings.push_back(fmt::format(
        "{} requests unanswered through the whole window (starved connections: the latency "
        "figures cannot include them)",
        k.unanswered_through_window));
  }
  if (load.stop_reason == "unreachable") r.fail("loadgen: the server was unreachable");
  else if (k.requests == 0) r.fail("no responses in the measured window");
  else if (errors * kErrorFailRatio > k.requests) {
    r.fail(fmt::format("errors: {} errors for {} responses", errors, k.requests));
  }
}

// Server figures over the sampled sub-window, scaled to the whole window.
void record_server(RunRecord& r, const WindowFigures& w, const loadgen::LoadResult& load) {
  if (w.duration_s <= 0) return;
  double scale = load.duration_s > 0 ? load.duration_s / w.duration_s : 1.0;
  r.server.cpu_user_s = w.cpu_user_s * scale;
  r.server.cpu_sys_s = w.cpu_sys_s * scale;
  r.server.voluntary_cs = static_cast<uint64_t>(std::llround(static_cast<double>(w.voluntary_cs) * scale));
  r.server.involuntary_cs = static_cast<uint64_t>(std::llround(static_cast<double>(w.involuntary_cs) * scale));
  if (load.counters.requests > 0) {
    double req = static_cast<double>(load.counters.requests);
    r.server.cpu_us_per_request = (*r.server.cpu_user_s + *r.server.cpu_sys_s) * 1e6 / req;
    r.server.cs_per_request = static_cast<double>(*r.server.voluntary_cs + *r.server.involuntary_cs) / req;
  }
  r.server.pss_peak_kb = w.pss_peak_kb;
  if (w.pss_peak_kb && r.server.pss_idle_kb) {
    double grown = static_cast<double>(*w.pss_peak_kb) - static_cast<double>(*r.server.pss_idle_kb);
    r.server.pss_per_connection_kb = grown / r.cell.connections;
  }
  r.server.threads_peak = w.threads_peak;
  r.server.processes_peak = w.processes_peak;
  if (w.threads_exited > 0) {
    r.warnings.push_back(fmt::format(
        "{} server threads exited in the window (their context switches after the last sample are missing)",
        w.threads_exited));
  }
}

// results.fairness and results.classes of the load generator's JSON, when
// its version writes them (the harness runs with and without).
void record_loadgen_extras(RunRecord& r, const loadgen::LoadResult& load) {
  nlohmann::json j = load.to_json();
  if (!j.contains("results") || !j["results"].is_object()) return;
  const nlohmann::json& res = j["results"];
  if (res.contains("fairness") && res["fairness"].is_object()) {
    r.fairness = nlohmann::ordered_json::parse(res["fairness"].dump());
  }
  if (res.contains("classes") && res["classes"].is_array()) {
    r.classes = nlohmann::ordered_json::parse(res["classes"].dump());
  }
}

// The load generator's time series with the server's CPU and the noise
// figures of each interval, and the window's noise figures and warnings.
void record_series(RunRecord& r, const loadgen::LoadResult& load, const CpuSeries& cpu) {
  if (load.series.enabled()) {
    r.timeseries = nlohmann::ordered_json::parse(load.series.to_json(load.window_start_ns, load.window_end_ns).dump());
    cpu.annotate(*r.timeseries, load.window_start_ns);
  }
  if (auto f = cpu.over(load.window_start_ns, load.window_end_ns)) {
    r.noise.steal_server_cpus_pct = f->steal_server_cpus_pct;
    r.noise.steal_client_cpus_pct = f->steal_client_cpus_pct;
    r.noise.other_processes_cpu_s = f->other_cpu_s;
    r.noise.other_processes_cpu_pct = f->other_cpu_pct;
    for (std::string& w : CpuSeries::warnings(*f)) r.warnings.push_back(std::move(w));
  }
}

// The /app and backend counters from the server's exit line.
void record_server_counters(RunRecord& r, const std::string& output) {
  std::optional<nlohmann::json> counters = find_counters_line(output);
  for (const char* name : kServerAppCounters) {
    std::optional<uint64_t> value;
    if (counters && counters->contains(name) && (*counters)[name].is_number_unsigned()) {
      value = (*counters)[name].get<uint64_t>();
    }
    r.server_counters.emplace_back(name, value);
  }
}

void record_backend(RunRecord& r, const BackendControl& backend) {
  const std::optional<nlohmann::json>& c = backend.counters();
  if (!c) return;
  auto count = [&](const char* key) -> std::optional<uint64_t> {
    if (!c->contains(key) || !(*c)[key].is_number_unsigned()) return std::nullopt;
    return (*c)[key].get<uint64_t>();
  };
  auto without_probe = [](std::optional<uint64_t> v) {
    return v ? std::optional<uint64_t>(*v >= BackendControl::kProbeFrames ? *v - BackendControl::kProbeFrames : 0)
             : std::nullopt;
  };
  r.backend.requests = without_probe(count("requests"));
  r.backend.replies = without_probe(count("replies"));
  uint64_t errors = 0;
  for (const auto& [key, value] : c->items()) {
    if (key.rfind("errors_", 0) == 0 && value.is_number_unsigned()) errors += value.get<uint64_t>();
  }
  r.backend.errors = errors;
}

ServerSpec server_spec(const Cell& cell, const RunSettings& s, int repetition) {
  ServerSpec spec;
  spec.binary = s.server_binary;
  spec.host = s.listen;
  spec.model = cell.model + ":" + cell.variant;
  spec.proto = cell.proto;
  spec.root = s.docroot;
  if (cell.model != kPeerModel) spec.stats_file = fmt::format("{}/stats-{}", s.scratch_dir, cell.run_id(repetition));
  spec.cpus = s.server_cpus;
  spec.extra_args = cell.server_args;
  spec.probe_path = docroot_path_for(cell.file_size_bytes.value_or(kProbeFileBytes));
  spec.stop_grace = s.stop_grace;
  if (cell.model == kPeerModel) {
    // An interpreter's imports (eventlet) and Apache prefork's 1,024
    // processes start and stop slower than bench_server, the more so on a
    // loaded machine: at least 30 s to listen and 20 s to stop.
    spec.startup_timeout = std::max(spec.startup_timeout, std::chrono::milliseconds(30'000));
    spec.stop_grace = std::max(spec.stop_grace, std::chrono::milliseconds(20'000));
  }
  return spec;
}

}  // namespace

std::vector<std::string> source_ips_for(int connections) {
  auto range = procfs::read_file("/proc/sys/net/ipv4/ip_local_port_range");
  long first = 32768, last = 60999;
  if (range) std::sscanf(range->c_str(), "%ld %ld", &first, &last);
  long per_ip = std::max(1L, (last - first + 1) / 2);
  long needed = (connections + per_ip - 1) / per_ip;
  std::vector<std::string> ips;
  if (needed <= 1) return ips;
  for (long i = 0; i < needed && i < 250; ++i) ips.push_back(fmt::format("127.0.0.{}", 2 + i));
  return ips;
}

RunOutput run_cell(const Cell& cell, int repetition, const RunSettings& s, Progress& progress) {
  RunOutput out;
  RunRecord& r = out.record;
  r.cell = cell;
  r.repetition = repetition;
  ServerSpec spec = server_spec(cell, s, repetition);
  std::optional<Dataset> dataset;
  if (cell.reads_disk()) {
    if (auto failed = prepare_disk(cell, s, r, dataset)) {
      r.fail(*failed);
      return out;
    }
    spec.root = dataset->dir();  // it holds the probe file too
  }
  std::optional<MemoryCgroup> cgroup;
  if (cell.server_memory_bytes) {
    auto made = MemoryCgroup::create(*cell.server_memory_bytes,
                                     fmt::format("cb-harness-{}-{}", ::getpid(), cgroup_serial.fetch_add(1)),
                                     s.cgroup_parent);
    if (auto* why = std::get_if<std::string>(&made)) {
      r.fail("memory limit: " + *why);
      return out;
    }
    cgroup.emplace(std::move(std::get<MemoryCgroup>(made)));
    spec.cgroup_procs_fd = cgroup->procs_fd();
    r.memory_cgroup.cgroup_version = cgroup->version();
    r.memory_cgroup.limit_bytes = cgroup->limit_bytes();
  }
  // The backend first: the server is told where it is, and stops before it.
  std::optional<BackendControl> backend;
  if (cell.needs_backend()) {
    backend.emplace(BackendSpec{.binary = s.backend_binary, .cpus = s.backend_cpus, .stop_grace = s.stop_grace});
    if (auto failed = backend->start()) {
      r.fail(*failed);
      return out;
    }
    spec.extra_args.insert(spec.extra_args.end(), {"--backend", backend->address()});
    if (cell.backend_conns) {
      spec.extra_args.insert(spec.extra_args.end(), {"--backend-conns", std::to_string(*cell.backend_conns)});
    }
  }
  // A peer: its launcher, in a fresh state dir of its own (peers.h).
  std::string state_dir;
  if (cell.model == kPeerModel) {
    state_dir = fmt::format("{}/{}", s.state_dir, cell.run_id(repetition));
    remove_tree(state_dir);
    if (::mkdir(state_dir.c_str(), 0755) != 0) {
      r.fail(fmt::format("startup: cannot make the state dir {}: {}", state_dir, std::strerror(errno)));
      if (backend) backend->stop();
      return out;
    }
    spec.command = peer_command(s.peers_dir + "/" + cell.variant + "/serve", cell.proto, spec.root,
                                static_cast<int>(s.server_cpus.size()), state_dir, s.peers_bin_dir, s.listen);
  }
  // Once the peer has stopped, however the run went: its generated
  // configuration is kept, its state dir removed.
  auto keep_peer_state = [&] {
    if (state_dir.empty()) return;
    out.peer_configs = peer_config_files(state_dir);
    remove_tree(state_dir);
  };
  ServerControl server(spec);
  if (auto failed = server.start()) {
    r.fail(*failed);
    keep_peer_state();
    if (backend) backend->stop();
    return out;
  }
  if (!server.wait_idle(kIdleSettle)) r.warnings.push_back("server did not settle after the probe");
  TreeSample idle = sample_tree(server.pid(), server.counters(), {.pss = true, .tasks = false});
  r.server.pss_idle_kb = idle.pss_kb;

  // SIGINT/SIGTERM of the harness (cb::stop_fd) ends the load at once.
  loadgen::LoadControl control(cb::stop_fd());
  Monitor monitor(server, backend ? &*backend : nullptr, control, s, cell.connections, cell.reads_disk(),
                  progress);
  std::thread watcher([&] { monitor.run(); });
  std::optional<loadgen::LoadResult> load;
  try {
    loadgen::LoadConfig config = load_config(cell, s, server);
    if (dataset) {
      std::vector<WeightedPath> paths = dataset->paths(cell.workload->disk.zipf_alpha);
      config.paths.clear();
      config.paths.reserve(paths.size());
      for (const WeightedPath& p : paths) config.paths.push_back({p.path, p.weight});
      config.class_per_path = false;
    }
    if (s.remote) {
      RemoteOutcome remote = run_remote_load(config, *s.remote, control);
      r.agents = std::move(remote.agents);
      out.agents_json = remote.documents.dump() + "\n";
      if (remote.failure) r.fail(*remote.failure);
      load = std::move(remote.merged);
    } else {
      load = loadgen::run_load(config, &control);
    }
  } catch (const std::exception& e) {
    r.fail(std::string("loadgen: ") + e.what());
  }
  monitor.request_stop();
  watcher.join();
  if (cgroup) {
    CgroupStats cs = cgroup->stats();
    r.memory_cgroup.peak_bytes = cs.peak_bytes;
    r.memory_cgroup.cache_bytes_at_end = cs.cache_bytes;
    r.memory_cgroup.limit_hits = cs.limit_hits;
  }

  if (monitor.crash()) r.fail(*monitor.crash());
  if (monitor.overran()) r.fail("hang: the load did not end in time (stopped)");
  if (load) {
    record_load(r, *load);
    for (const RunRecord::Agent& a : r.agents) {
      if (a.saturated.value_or(false)) r.warnings.push_back(fmt::format("loadgen saturated on client host {}", a.host));
    }
    record_loadgen_extras(r, *load);
    out.hgrm = load->corrected.count() > 0 ? load->corrected.to_hgrm() : "";
    record_series(r, *load, monitor.cpu_series());
    if (monitor.window()) {
      record_server(r, *monitor.window(), *load);
      if (dataset) record_disk(r, *monitor.window(), *load);
      if (auto cpu = monitor.backend_cpu_s(); cpu && monitor.window()->duration_s > 0) {
        r.backend.cpu_s = *cpu * load->duration_s / monitor.window()->duration_s;
      }
    }
    else if (!monitor.crash()) r.warnings.push_back("server not sampled through the window");
    if (monitor.open_at_end() && *monitor.open_at_end() < static_cast<uint64_t>(cell.connections)) {
      // The rest waited in the accept backlog: the server could not keep up.
      r.warnings.push_back(fmt::format("the server held only {} of {} connections at the window's end",
                                       *monitor.open_at_end(), cell.connections));
    }
    if (monitor.early_s()) {
      r.warnings.push_back(fmt::format("server sampled until {:.1f} s before the window's end", *monitor.early_s()));
    }
    if (monitor.late_ms()) {
      r.warnings.push_back(fmt::format("the last server sample ended {:.0f} ms after the window", *monitor.late_ms()));
    }
  }
  if (auto stopped = server.stop()) {
    // Dying of the SIGTERM itself is untidy, not a failure of the run.
    if (stopped->find("was killed by SIGTERM") != std::string::npos) r.warnings.push_back(*stopped);
    else if (r.ok) r.fail(*stopped);
  }
  keep_peer_state();
  // A peer has no counters: its figures stay null whatever it prints.
  record_server_counters(r, cell.model == kPeerModel ? std::string() : server.output());
  if (dataset && r.ok) {
    r.disk.read_bytes_server_life = static_cast<uint64_t>(server.final_rusage().ru_inblock) * 512u;
  }
  if (backend) {
    if (auto stopped = backend->stop()) r.fail(*stopped);
    record_backend(r, *backend);
  }
  return out;
}

}  // namespace cb::harness
