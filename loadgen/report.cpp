// report.cpp: the human summary and the JSON document of a run.
#include "report.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>
#include <nlohmann/json.hpp>

#include "common/units.h"

namespace cb::loadgen {
namespace {

using nlohmann::json;

struct PercentileSpec {
  double percentile;
  const char* label;     // for the table
  const char* json_key;  // units in the key
};
constexpr PercentileSpec kPercentiles[] = {
    {50, "p50", "p50_us"}, {75, "p75", "p75_us"},       {90, "p90", "p90_us"},
    {99, "p99", "p99_us"}, {99.9, "p99.9", "p99_9_us"}, {99.99, "p99.99", "p99_99_us"},
};

double us(uint64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

json latency_json(const Histogram& h) {
  json j = {{"count", h.count()},
            {"min_us", us(h.min())},
            {"mean_us", h.mean() / 1e3},
            {"stdev_us", h.stdev() / 1e3},
            {"max_us", us(h.max())}};
  for (const PercentileSpec& p : kPercentiles)
    j[p.json_key] = us(h.value_at_percentile(p.percentile));
  return j;
}

json errors_json(const Counters& c) {
  json errors = json::object(), reasons = json::object();
  for (std::size_t i = 0; i < kErrorClassCount; ++i) {
    const char* name = error_class_name(static_cast<ErrorClass>(i));
    errors[name] = c.errors[i];
    if (c.errors[i] > 0 && c.first_errno[i] != 0) reasons[name] = std::strerror(c.first_errno[i]);
  }
  return {{"errors", errors}, {"first_error", reasons}};
}

json optional_json(std::optional<double> v) {
  return v ? json(*v) : json(nullptr);
}

json fairness_json(const Fairness& f) {
  std::optional<double> jain = f.jain_index();
  return {{"connections", f.connections},
          {"jain_index", jain ? json(*jain) : json(nullptr)},
          {"min_requests_per_conn", f.min_per_conn()},
          {"max_requests_per_conn", f.max},
          {"mean_requests_per_conn", f.mean_per_conn()}};
}

json classes_results_json(const std::vector<ClassResult>& classes) {
  json out = json::array();
  for (const ClassResult& k : classes) {
    out.push_back({{"path", k.path},
                   {"weight", k.weight},
                   {"requests", k.requests()},
                   {"latency",
                    {{"corrected", latency_json(k.corrected)},
                     {"uncorrected", latency_json(k.uncorrected)}}}});
  }
  return out;
}

json classes_histograms_json(const std::vector<ClassResult>& classes) {
  json out = json::array();
  for (const ClassResult& k : classes) {
    out.push_back({{"path", k.path},
                   {"corrected", k.corrected.to_json()},
                   {"uncorrected", k.uncorrected.to_json()}});
  }
  return out;
}

// A path cut to `width` characters keeping both ends, since paths of one
// service tend to differ in the query string at the end.
std::string shortened(const std::string& path, std::size_t width) {
  constexpr std::string_view kEllipsis = "...";
  if (path.size() <= width) return path;
  std::size_t head = (width - kEllipsis.size()) / 2;
  std::size_t tail = width - kEllipsis.size() - head;
  return path.substr(0, head) + std::string(kEllipsis) + path.substr(path.size() - tail);
}

// One row per class (2+ classes only): requests and the tail of the
// corrected latency (= uncorrected in closed loop).
std::string class_rows(const std::vector<ClassResult>& classes) {
  // 40 columns of path keep a row within 100 columns.
  constexpr std::size_t kPathWidth = 40;
  if (classes.size() < 2) return "";
  auto d = [](uint64_t ns) { return units::format_duration(std::chrono::nanoseconds(ns)); };
  std::string out = fmt::format("  {:<{}}{:>12}{:>10}{:>10}{:>10}{:>10}\n", "Class", kPathWidth,
                                "requests", "p50", "p99", "p99.9", "max");
  for (const ClassResult& k : classes) {
    const Histogram& h = k.corrected;
    out += fmt::format("  {:<{}}{:>12}{:>10}{:>10}{:>10}{:>10}\n", shortened(k.path, kPathWidth),
                       kPathWidth, k.requests(), d(h.value_at_percentile(50)),
                       d(h.value_at_percentile(99)), d(h.value_at_percentile(99.9)), d(h.max()));
  }
  return out;
}

std::string fairness_line(const Fairness& f) {
  std::optional<double> jain = f.jain_index();
  if (!jain) {
    return fmt::format("  Fairness: undefined, no request completed over {} connections\n",
                       f.connections);
  }
  return fmt::format(
      "  Fairness: Jain {:.3f} over {} connections, per connection min {} / mean {:.1f} / max {} "
      "requests\n",
      *jain, f.connections, f.min_per_conn(), f.mean_per_conn(), f.max);
}

std::string latency_row(const char* label, const Histogram& h) {
  auto d = [](uint64_t ns) { return units::format_duration(std::chrono::nanoseconds(ns)); };
  std::string row = fmt::format("  {:<12}", label);
  for (const PercentileSpec& p : kPercentiles)
    row += fmt::format("{:>10}", d(h.value_at_percentile(p.percentile)));
  row += fmt::format("{:>10}{:>10}{:>10}\n", d(h.max()), d(static_cast<uint64_t>(h.mean())),
                     d(static_cast<uint64_t>(h.stdev())));
  return row;
}

std::string error_lines(const Counters& c) {
  std::string line;
  for (std::size_t i = 0; i < kErrorClassCount; ++i) {
    if (c.errors[i] == 0 || static_cast<ErrorClass>(i) == ErrorClass::kLate) continue;
    line += fmt::format("{}{} {}", line.empty() ? "" : ", ",
                        error_class_name(static_cast<ErrorClass>(i)), c.errors[i]);
    if (c.first_errno[i] != 0) line += fmt::format(" ({})", std::strerror(c.first_errno[i]));
  }
  std::string out = line.empty() ? "" : "  Errors: " + line + "\n";
  uint64_t late = c.errors[static_cast<std::size_t>(ErrorClass::kLate)];
  if (late > 0) {
    out += fmt::format(
        "  Late: {} requests waited for a busy connection (counted from their "
        "intended time)\n",
        late);
  }
  return out;
}

std::string status_line(const Counters& c) {
  static constexpr const char* kNames[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  std::string line;
  for (std::size_t i = 0; i < c.status_classes.size(); ++i) {
    if (c.status_classes[i] > 0) line += fmt::format("  {} {}", kNames[i], c.status_classes[i]);
  }
  return line.empty() ? "" : "  HTTP status:" + line + "\n";
}

}  // namespace

const char* error_class_name(ErrorClass c) {
  switch (c) {
    case ErrorClass::kConnect:
      return "connect";
    case ErrorClass::kRead:
      return "read";
    case ErrorClass::kWrite:
      return "write";
    case ErrorClass::kTimeout:
      return "timeout";
    case ErrorClass::kReset:
      return "reset";
    case ErrorClass::kStatus:
      return "status";
    case ErrorClass::kMismatch:
      return "mismatch";
    case ErrorClass::kLate:
      return "late";
    case ErrorClass::kCount:
      break;
  }
  return "?";
}

const char* phase_name(Progress::Phase p) {
  switch (p) {
    case Progress::Phase::kIdle:
      return "idle";
    case Progress::Phase::kConnecting:
      return "connecting";
    case Progress::Phase::kWarmup:
      return "warm-up";
    case Progress::Phase::kMeasuring:
      return "measuring";
    case Progress::Phase::kDone:
      return "done";
  }
  return "?";
}

nlohmann::json LoadResult::to_json() const {
  const Counters& c = counters;
  json status = {{"1xx", c.status_classes[1]}, {"2xx", c.status_classes[2]},
                 {"3xx", c.status_classes[3]}, {"4xx", c.status_classes[4]},
                 {"5xx", c.status_classes[5]}, {"other", c.status_classes[0]}};
  json results = {
      {"requests", c.requests},
      {"duration_s", duration_s},
      {"requests_per_s", requests_per_s()},
      {"bytes_read", c.bytes_read},
      {"bytes_written", c.bytes_written},
      {"response_header_bytes", c.response_head_bytes},
      {"response_body_bytes", c.response_body_bytes},
      {"response_header_bytes_per_request", optional_json(response_header_bytes_per_request())},
      {"response_body_bytes_per_request", optional_json(response_body_bytes_per_request())},
      {"transfer_mib_per_s", transfer_mib_per_s()},
      {"connect_attempts", c.connect_attempts},
      {"connections_opened", c.connections_opened},
      {"closed_by_server", c.closed_by_server},
      {"requests_unanswered_through_window", c.unanswered_through_window},
      {"status", status},
      {"classes", classes_results_json(classes)},
      {"fairness", fairness_json(fairness)},
      {"timeseries", series.to_json(window_start_ns, window_end_ns)},
      {"errors_total", c.error_total()},
      {"latency",
       {{"corrected", latency_json(corrected)}, {"uncorrected", latency_json(uncorrected)}}},
      {"cpu_user_s", cpu_user_s},
      {"cpu_sys_s", cpu_sys_s},
      {"cpu_utilization", cpu_utilization},
      {"cpus_usable", cpus_usable},
      {"saturated", saturated},
      {"stop_reason", stop_reason}};
  results.update(errors_json(c));
  return {
      {"schema_version", kSchemaVersion},
      {"tool", "loadgen"},
      {"config", config_to_json(config)},
      {"results", std::move(results)},
      {"histograms",
       {{"corrected", corrected.to_json()},
        {"uncorrected", uncorrected.to_json()},
        {"classes", classes_histograms_json(classes)}}}};
}

std::string describe(const LoadConfig& c) {
  std::string what =
      c.proto == Proto::kEcho
          ? fmt::format("echo {}B messages", c.msg_size)
          : fmt::format("http GET {}{}", c.paths.front().path,
                        c.paths.size() > 1 ? fmt::format(" (+{} paths)", c.paths.size() - 1) : "");
  std::string model =
      c.open_loop() ? fmt::format("open loop at {:.0f} req/s", c.rate_per_s) : "closed loop";
  return fmt::format("{}:{}, {}, {}, {} thread(s), {} connection(s), pipeline {}{}", c.host, c.port,
                     what, model, c.threads, c.connections, c.pipeline,
                     c.close_after_request ? ", close" : "");
}

std::string format_summary(const LoadResult& r) {
  const Counters& c = r.counters;
  std::string out = fmt::format("loadgen {}\n", describe(r.config));
  if (r.config.warmup.count() > 0)
    out += fmt::format("  warm-up {} (not recorded)\n", units::format_duration(r.config.warmup));
  out += fmt::format("  {:<12}", "Latency");
  for (const PercentileSpec& p : kPercentiles) out += fmt::format("{:>10}", p.label);
  out += fmt::format("{:>10}{:>10}{:>10}\n", "max", "mean", "stdev");
  if (r.config.open_loop()) {
    out += latency_row("corrected", r.corrected);
    out += latency_row("uncorrected", r.uncorrected);
  } else {
    out += latency_row("", r.uncorrected);
  }
  out += class_rows(r.classes);
  out += fmt::format("  {} requests in {:.2f}s, {} read, {} written\n", c.requests, r.duration_s,
                     units::format_size(c.bytes_read), units::format_size(c.bytes_written));
  if (auto head = r.response_header_bytes_per_request()) {
    out += fmt::format("  Per response: {:.1f} B of head, {:.1f} B of body\n", *head,
                       r.response_body_bytes_per_request().value_or(0));
  }
  out += status_line(c);
  out += error_lines(c);
  out += fmt::format("  Connections: {} opened, {} attempts, {} closed by the server\n",
                     c.connections_opened, c.connect_attempts, c.closed_by_server);
  out += fairness_line(r.fairness);
  if (c.unanswered_through_window > 0) {
    out += fmt::format(
        "  Unanswered through the whole window: {} requests (starved connections; the latency "
        "figures cannot include them)\n",
        c.unanswered_through_window);
  }
  out += fmt::format("Requests/sec: {:.2f}\n", r.requests_per_s());
  out +=
      fmt::format("Transfer/sec: {}\n",
                  units::format_size(static_cast<uint64_t>(r.transfer_mib_per_s() * 1024 * 1024)));
  out += fmt::format("CPU: user {:.2f}s, sys {:.2f}s, {:.0f}% of {} CPU(s)\n", r.cpu_user_s,
                     r.cpu_sys_s, r.cpu_utilization * 100, r.cpus_usable);
  if (r.saturated) {
    out +=
        "WARNING: the load generator's threads were saturated (>= 90% CPU): the figures show its "
        "limit, not only the server's; add threads or CPUs\n";
  }
  if (r.stop_reason == "unreachable") {
    out += fmt::format("ERROR: no connection to {}:{} could be established\n", r.config.host,
                       r.config.port);
  } else if (r.stop_reason == "stopped") {
    out += "Run stopped early.\n";
  }
  return out;
}

std::string format_progress(const Progress& p) {
  return fmt::format("{:<10} {:7.1f}s {:>12} requests {:>8} errors {:>7} open", phase_name(p.phase),
                     p.elapsed_s, p.requests, p.errors, p.connections_open);
}

}  // namespace cb::loadgen
