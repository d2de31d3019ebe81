// results.cpp: see results.h.
#include "results.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <functional>
#include <numeric>

#include <fmt/format.h>

#include "common/fd.h"
#include "common/status.h"

namespace cb::harness {
namespace {

using ojson = nlohmann::ordered_json;

template <class T>
ojson opt(const std::optional<T>& v) {
  return v ? ojson(*v) : ojson(nullptr);
}

ojson latency_json(const std::optional<LatencySummary>& l) {
  if (!l) return nullptr;
  return ojson{{"mean_us", l->mean_us},   {"stdev_us", l->stdev_us}, {"min_us", l->min_us},
               {"p50_us", l->p50_us},     {"p75_us", l->p75_us},     {"p90_us", l->p90_us},
               {"p99_us", l->p99_us},     {"p99_9_us", l->p99_9_us}, {"p99_99_us", l->p99_99_us},
               {"max_us", l->max_us}};
}

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) throw SysError("mkdir(" + path + ")", errno);
}

// <root>/latest -> <stamp>, replaced atomically (symlink beside, rename).
void point_latest(const std::string& root, const std::string& stamp) {
  std::string tmp = fmt::format("{}/.latest-{}", root, ::getpid());
  ::unlink(tmp.c_str());
  if (::symlink(stamp.c_str(), tmp.c_str()) != 0) throw SysError("symlink(" + tmp + ")", errno);
  if (::rename(tmp.c_str(), (root + "/latest").c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw SysError("rename(" + tmp + ", latest)", err);
  }
}

std::tm utc_tm(std::time_t when) {
  std::tm tm{};
  ::gmtime_r(&when, &tm);
  return tm;
}

// The aggregated metrics, by name, and how to read each from a run.
using Metric = std::pair<const char*, std::function<std::optional<double>(const RunRecord&)>>;

std::optional<double> as_double(const std::optional<uint64_t>& v) {
  return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
}

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> kMetrics = {
      {"requests_per_s", [](const RunRecord& r) { return r.requests_per_s; }},
      {"mb_per_s", [](const RunRecord& r) { return r.mb_per_s; }},
      {"p50_us", [](const RunRecord& r) { return r.latency ? std::optional(r.latency->p50_us) : std::nullopt; }},
      {"p99_us", [](const RunRecord& r) { return r.latency ? std::optional(r.latency->p99_us) : std::nullopt; }},
      {"p99_9_us", [](const RunRecord& r) { return r.latency ? std::optional(r.latency->p99_9_us) : std::nullopt; }},
      {"server_cpu_us_per_request", [](const RunRecord& r) { return r.server.cpu_us_per_request; }},
      {"server_cs_per_request", [](const RunRecord& r) { return r.server.cs_per_request; }},
      {"server_pss_per_connection_kb", [](const RunRecord& r) { return r.server.pss_per_connection_kb; }},
      {"server_pss_peak_kb", [](const RunRecord& r) { return as_double(r.server.pss_peak_kb); }},
      {"jain_index", [](const RunRecord& r) -> std::optional<double> {
         if (!r.fairness || !r.fairness->contains("jain_index") || !(*r.fairness)["jain_index"].is_number()) {
           return std::nullopt;
         }
         return (*r.fairness)["jain_index"].get<double>();
       }},
  };
  return kMetrics;
}

}  // namespace

void RunRecord::fail(const std::string& reason) {
  if (ok) failure_reason = reason;
  ok = false;
}

ojson RunRecord::to_json() const {
  ojson j = cell.to_json();
  j["id"] = id();
  j["repetition"] = repetition;
  j["status"] = ok ? "ok" : "failed";
  j["failure_reason"] = ok ? ojson(nullptr) : opt(failure_reason);
  j["warnings"] = warnings;
  j["duration_s"] = opt(duration_s);
  j["requests"] = opt(requests);
  j["requests_unanswered_through_window"] = opt(requests_unanswered_through_window);
  j["requests_per_s"] = opt(requests_per_s);
  j["mb_per_s"] = opt(mb_per_s);
  j["response_header_bytes_per_request"] = opt(response_header_bytes_per_request);
  j["response_body_bytes_per_request"] = opt(response_body_bytes_per_request);
  j["latency"] = latency_json(latency);
  j["latency_uncorrected"] = latency_json(latency_uncorrected);
  if (errors) {
    ojson e = ojson::object();
    for (const auto& [name, count] : *errors) e[name] = count;
    j["errors"] = e;
  } else {
    j["errors"] = nullptr;
  }
  j["server"] = {{"cpu_user_s", opt(server.cpu_user_s)},
                 {"cpu_sys_s", opt(server.cpu_sys_s)},
                 {"cpu_us_per_request", opt(server.cpu_us_per_request)},
                 {"voluntary_cs", opt(server.voluntary_cs)},
                 {"involuntary_cs", opt(server.involuntary_cs)},
                 {"cs_per_request", opt(server.cs_per_request)},
                 {"pss_idle_kb", opt(server.pss_idle_kb)},
                 {"pss_peak_kb", opt(server.pss_peak_kb)},
                 {"pss_per_connection_kb", opt(server.pss_per_connection_kb)},
                 {"threads_peak", opt(server.threads_peak)},
                 {"processes_peak", opt(server.processes_peak)}};
  ojson counters = ojson::object();
  for (const char* name : kServerAppCounters) counters[name] = nullptr;
  for (const auto& [name, value] : server_counters) counters[name] = opt(value);
  j["server_counters"] = counters;
  j["backend"] = {{"requests", opt(backend.requests)},
                  {"replies", opt(backend.replies)},
                  {"errors", opt(backend.errors)},
                  {"cpu_s", opt(backend.cpu_s)}};
  j["disk"] = {{"dataset", opt(disk.dataset)},
               {"dataset_files", opt(disk.dataset_files)},
               {"dataset_bytes", opt(disk.dataset_bytes)},
               {"zipf_alpha", opt(disk.zipf_alpha)},
               {"mean_file_bytes", opt(disk.mean_file_bytes)},
               {"dataset_to_memory_ratio", opt(disk.dataset_to_memory_ratio)},
               {"eviction", opt(disk.eviction)},
               {"eviction_s", opt(disk.eviction_s)},
               {"resident_after_eviction_ratio", opt(disk.resident_after_eviction_ratio)},
               {"read_bytes", opt(disk.read_bytes)},
               {"read_bytes_per_request", opt(disk.read_bytes_per_request)},
               {"page_cache_hit_ratio", opt(disk.page_cache_hit_ratio)},
               {"read_bytes_server_life", opt(disk.read_bytes_server_life)}};
  j["memory_cgroup"] = {{"cgroup_version", opt(memory_cgroup.cgroup_version)},
                        {"limit_bytes", opt(memory_cgroup.limit_bytes)},
                        {"peak_bytes", opt(memory_cgroup.peak_bytes)},
                        {"cache_bytes_at_end", opt(memory_cgroup.cache_bytes_at_end)},
                        {"limit_hits", opt(memory_cgroup.limit_hits)}};
  j["fairness"] = fairness ? *fairness : ojson(nullptr);
  j["classes"] = classes ? *classes : ojson(nullptr);
  j["loadgen"] = {{"cpu_user_s", opt(loadgen.cpu_user_s)},
                  {"cpu_sys_s", opt(loadgen.cpu_sys_s)},
                  {"cpu_utilization", opt(loadgen.cpu_utilization)},
                  {"saturated", opt(loadgen.saturated)}};
  j["hgrm_file"] = opt(hgrm_file);
  j["peer_config_files"] = opt(peer_config_files);
  j["agents_file"] = opt(agents_file);
  j["agents"] = ojson::array();
  for (const Agent& a : agents) {
    j["agents"].push_back({{"host", a.host},
                           {"connections", a.connections},
                           {"rate_per_s", a.rate_per_s},
                           {"version", opt(a.version)},
                           {"clock_offset_ms", opt(a.clock_offset_ms)},
                           {"rtt_ms", opt(a.rtt_ms)},
                           {"start_late_ms", opt(a.start_late_ms)},
                           {"requests", opt(a.requests)},
                           {"requests_per_s", opt(a.requests_per_s)},
                           {"errors_total", opt(a.errors_total)},
                           {"cpu_user_s", opt(a.cpu_user_s)},
                           {"cpu_sys_s", opt(a.cpu_sys_s)},
                           {"cpu_utilization", opt(a.cpu_utilization)},
                           {"saturated", opt(a.saturated)},
                           {"failure_reason", opt(a.failure_reason)}});
  }
  j["noise"] = {{"steal_server_cpus_pct", opt(noise.steal_server_cpus_pct)},
                {"steal_client_cpus_pct", opt(noise.steal_client_cpus_pct)},
                {"other_processes_cpu_s", opt(noise.other_processes_cpu_s)},
                {"other_processes_cpu_pct", opt(noise.other_processes_cpu_pct)}};
  j["timeseries"] = timeseries ? *timeseries : ojson(nullptr);
  return j;
}

ojson summarize(std::vector<double> v) {
  if (v.empty()) {
    return ojson{{"mean", nullptr}, {"median", nullptr}, {"stddev", nullptr}, {"min", nullptr}, {"max", nullptr}};
  }
  std::sort(v.begin(), v.end());
  double n = static_cast<double>(v.size());
  double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
  double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  double stddev = v.size() > 1 ? std::sqrt(sq / (n - 1)) : 0.0;
  std::size_t mid = v.size() / 2;
  double median = v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return ojson{{"mean", mean}, {"median", median}, {"stddev", stddev}, {"min", v.front()}, {"max", v.back()}};
}

ojson make_aggregates(const std::vector<Cell>& cells, const std::vector<RunRecord>& runs) {
  ojson out = ojson::array();
  for (const Cell& cell : cells) {
    int repetitions = 0, ok = 0;
    std::vector<std::vector<double>> values(metrics().size());
    for (const RunRecord& r : runs) {
      if (r.cell.key() != cell.key()) continue;
      ++repetitions;
      if (!r.ok) continue;
      ++ok;
      for (std::size_t m = 0; m < metrics().size(); ++m) {
        if (auto v = metrics()[m].second(r)) values[m].push_back(*v);
      }
    }
    if (repetitions == 0) continue;  // not run yet
    ojson a = cell.to_json();
    a["repetitions"] = repetitions;
    a["ok_repetitions"] = ok;
    ojson m = ojson::object();
    for (std::size_t i = 0; i < metrics().size(); ++i) m[metrics()[i].first] = summarize(values[i]);
    a["metrics"] = m;
    out.push_back(a);
  }
  return out;
}

ResultsWriter::ResultsWriter(const std::string& root, const std::string& stamp) {
  make_dir(root);
  std::string name = stamp;
  for (int i = 1; ::mkdir((root + "/" + name).c_str(), 0755) != 0; ++i) {
    if (errno != EEXIST || i > 1000) throw SysError("mkdir(" + root + "/" + name + ")", errno);
    name = fmt::format("{}-{}", stamp, i);
  }
  dir_ = root + "/" + name;
  make_dir(dir_ + "/runs");
  point_latest(root, name);
}

std::string ResultsWriter::write_hgrm(const std::string& id, const std::string& text) {
  return write_run_file(id + ".hgrm", text);
}

std::string ResultsWriter::write_run_file(const std::string& name, const std::string& text) {
  std::string rel = "runs/" + name;
  write_file_atomic(dir_ + "/" + rel, text);
  return rel;
}

std::string ResultsWriter::write_peer_config(const std::string& id, const std::string& name,
                                             const std::string& text) {
  return write_run_file(id + "." + name, text);
}

void ResultsWriter::add_run(RunRecord run) {
  runs_.push_back(std::move(run));
  flush();
}

ojson ResultsWriter::document() const {
  ojson doc;
  doc["schema_version"] = kSchemaVersion;
  doc["context"] = context_;
  doc["config"] = config_;
  ojson runs = ojson::array();
  for (const RunRecord& r : runs_) runs.push_back(r.to_json());
  doc["runs"] = runs;
  doc["aggregates"] = make_aggregates(cells_, runs_);
  return doc;
}

void ResultsWriter::flush() const { write_file_atomic(dir_ + "/results.json", document().dump(2) + "\n"); }

void write_file_atomic(const std::string& path, const std::string& text) {
  std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open(" + tmp + ")", errno);
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw SysError("write(" + tmp + ")", errno);
      done += static_cast<std::size_t>(n);
    }
    // fsync before rename: after a crash the new name never points at an
    // empty file.
    if (::fsync(fd.get()) != 0) throw SysError("fsync(" + tmp + ")", errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw SysError("rename(" + tmp + ")", err);
  }
}

std::string utc_stamp(std::time_t when) {
  std::tm tm = utc_tm(when);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string utc_iso8601(std::time_t when) {
  std::tm tm = utc_tm(when);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace cb::harness
