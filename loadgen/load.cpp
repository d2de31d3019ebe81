// load.cpp: run_load plans the timeline, starts one worker thread per
// --threads, and merges their counters and histograms exactly; LoadControl
// lets another thread stop the run and watch its progress.
#include "load.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <thread>

#include "common/cpu.h"
#include "common/status.h"
#include "worker.h"

namespace cb::loadgen {

void Counters::merge(const Counters& o) {
  requests += o.requests;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  response_head_bytes += o.response_head_bytes;
  response_body_bytes += o.response_body_bytes;
  for (std::size_t i = 0; i < status_classes.size(); ++i) status_classes[i] += o.status_classes[i];
  for (std::size_t i = 0; i < kErrorClassCount; ++i) {
    if (errors[i] == 0) first_errno[i] = o.first_errno[i];
    errors[i] += o.errors[i];
  }
  connect_attempts += o.connect_attempts;
  connections_opened += o.connections_opened;
  closed_by_server += o.closed_by_server;
  unanswered_through_window += o.unanswered_through_window;
}

std::vector<ClassResult> request_classes(const LoadConfig& config) {
  std::vector<ClassResult> classes;
  if (config.proto == Proto::kEcho) {
    classes.emplace_back();
    return classes;
  }
  if (!config.class_per_path) {
    // One class for every path: named "*", weighted by the whole.
    uint64_t weight = 0;
    for (const WeightedPath& p : config.paths) weight += p.weight;
    classes.emplace_back();
    classes.back().path = "*";
    classes.back().weight = static_cast<uint32_t>(weight);
    return classes;
  }
  for (const WeightedPath& p : config.paths) {
    classes.emplace_back();
    classes.back().path = p.path;
    classes.back().weight = p.weight;
  }
  return classes;
}

uint64_t Counters::error_total() const {
  uint64_t total = 0;
  for (std::size_t i = 0; i < kErrorClassCount; ++i) {
    if (i != static_cast<std::size_t>(ErrorClass::kLate)) total += errors[i];
  }
  return total;
}

double LoadResult::requests_per_s() const {
  return duration_s > 0 ? static_cast<double>(counters.requests) / duration_s : 0;
}

double LoadResult::transfer_mib_per_s() const {
  return duration_s > 0 ? static_cast<double>(counters.bytes_read) / (1024.0 * 1024) / duration_s
                        : 0;
}

std::optional<double> LoadResult::response_header_bytes_per_request() const {
  if (counters.requests == 0 || config.proto != Proto::kHttp) return std::nullopt;
  return static_cast<double>(counters.response_head_bytes) / static_cast<double>(counters.requests);
}

std::optional<double> LoadResult::response_body_bytes_per_request() const {
  if (counters.requests == 0) return std::nullopt;
  return static_cast<double>(counters.response_body_bytes) / static_cast<double>(counters.requests);
}

int LoadResult::exit_code() const {
  return counters.error_total() == 0 ? 0 : 1;
}

// ---- LoadControl ------------------------------------------------------------

LoadControl::LoadControl(int extra_stop_fd)
    : stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), extra_stop_fd_(extra_stop_fd) {
  if (!stop_) throw SysError("eventfd", errno);
}

void LoadControl::stop() {
  uint64_t one = 1;
  ssize_t n = ::write(stop_.get(), &one, sizeof one);
  (void)n;  // a full eventfd counter is already readable
}

void LoadControl::begin(std::shared_ptr<LiveCounters[]> live, int threads, int64_t start_ns,
                        int64_t warmup_ns, int64_t measure_ns, int64_t end_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  live_ = std::move(live);
  threads_ = threads;
  start_ns_ = start_ns;
  warmup_ns_ = warmup_ns;
  measure_ns_ = measure_ns;
  end_ns_ = end_ns;
  done_ = false;
}

void LoadControl::end() {
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
}

Progress LoadControl::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  Progress p;
  if (!live_) return p;
  int64_t now = monotonic_ns();
  p.elapsed_s = static_cast<double>(now - start_ns_) / 1e9;
  if (done_) {
    p.phase = Progress::Phase::kDone;
  } else if (now < warmup_ns_) {
    p.phase = Progress::Phase::kConnecting;
  } else if (now < measure_ns_) {
    p.phase = Progress::Phase::kWarmup;
  } else {
    p.phase = Progress::Phase::kMeasuring;
  }
  for (int i = 0; i < threads_; ++i) {
    p.requests += live_[static_cast<std::size_t>(i)].requests.load(std::memory_order_relaxed);
    p.errors += live_[static_cast<std::size_t>(i)].errors.load(std::memory_order_relaxed);
    p.connections_open += live_[static_cast<std::size_t>(i)].open.load(std::memory_order_relaxed);
  }
  return p;
}

// ---- run_load ---------------------------------------------------------------

namespace {

Timeline plan_timeline(const LoadConfig& cfg) {
  Timeline tl;
  tl.start_ns = monotonic_ns();
  int64_t ramp_ns = 0;
  if (cfg.connect_rate_per_s > 0) {
    ramp_ns = static_cast<int64_t>(cfg.connections / cfg.connect_rate_per_s * 1e9);
  }
  tl.warmup_ns = tl.start_ns + ramp_ns;
  tl.measure_ns = tl.warmup_ns + cfg.warmup.count();
  if (cfg.duration.count() > 0) tl.end_ns = tl.measure_ns + cfg.duration.count();
  return tl;
}

std::string merged_stop_reason(const std::vector<WorkerResult>& results, const SharedRun& shared) {
  if (shared.unreachable.load()) return "unreachable";
  for (const WorkerResult& r : results) {
    if (r.stop_reason == "stopped") return "stopped";
  }
  return results.empty() ? "requests" : results.front().stop_reason;
}

void merge_results(LoadResult& out, const std::vector<WorkerResult>& results, const Timeline& tl) {
  int64_t end_ns = tl.measure_ns;
  out.classes = request_classes(out.config);
  for (const WorkerResult& r : results) {
    merge_measurement(out, r.measured);
    end_ns = std::max(end_ns, r.end_ns);
  }
  out.duration_s = static_cast<double>(end_ns - tl.measure_ns) / 1e9;
  out.window_start_ns = tl.measure_ns;
  out.window_end_ns = end_ns;
  out.cpus_usable = std::min(allowed_cpu_count(), static_cast<int>(results.size()));
  if (out.duration_s > 0) {
    out.cpu_utilization = (out.cpu_user_s + out.cpu_sys_s) / (out.duration_s * out.cpus_usable);
  }
  out.saturated = out.cpu_utilization >= LoadResult::kSaturatedUtilization;
}

}  // namespace

LoadResult run_load(const LoadConfig& config, LoadControl* control) {
  config.validate();
  LoadControl local_control;
  LoadControl& ctl = control != nullptr ? *control : local_control;

  int threads = std::min(config.threads, config.connections);
  if (config.max_requests > 0) {
    threads =
        static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(threads), config.max_requests));
  }
  SharedRun shared;
  shared.total_connections = static_cast<uint64_t>(config.connections);
  shared.stop_fd = ctl.stop_fd();
  Timeline tl = plan_timeline(config);
  std::shared_ptr<LiveCounters[]> live(new LiveCounters[static_cast<std::size_t>(threads)]);
  ctl.begin(live, threads, tl.start_ns, tl.warmup_ns, tl.measure_ns, tl.end_ns);

  std::vector<WorkerPlan> plans(static_cast<std::size_t>(threads));
  std::vector<WorkerResult> results(static_cast<std::size_t>(threads));
  uint64_t n = config.max_requests, t = static_cast<uint64_t>(threads);
  for (std::size_t i = 0; i < plans.size(); ++i) {
    WorkerPlan& p = plans[i];
    p.config = &config;
    p.index = static_cast<int>(i);
    p.threads = threads;
    p.request_quota = n == 0 ? 0 : n / t + (i < n % t ? 1 : 0);
    p.timeline = tl;
    p.live = live.get() + i;
    p.shared = &shared;
    p.extra_stop_fd = ctl.extra_stop_fd();
  }
  std::vector<std::thread> workers;
  try {
    for (std::size_t i = 0; i < plans.size(); ++i) {
      workers.emplace_back([&plans, &results, i] {
        std::string name = "loadgen-" + std::to_string(i);
        (void)::pthread_setname_np(::pthread_self(), name.c_str());  // cosmetic: top/perf
        run_worker(plans[i], results[i]);
      });
    }
  } catch (...) {
    shared.stop_all();  // the threads already started must end before we unwind
    for (std::thread& w : workers) w.join();
    ctl.end();
    throw;
  }
  for (std::thread& w : workers) w.join();
  ctl.end();

  for (const WorkerResult& r : results) {
    if (!r.error.empty()) throw std::runtime_error("load thread failed: " + r.error);
  }
  LoadResult out;
  out.config = config;
  merge_results(out, results, tl);
  out.stop_reason = merged_stop_reason(results, shared);
  return out;
}

}  // namespace cb::loadgen
