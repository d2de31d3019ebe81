// agent.cpp: see agent.h.
#include "agent.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cb_build_version.h"
#include "common/fd.h"
#include "common/shutdown.h"
#include "report.h"

namespace cb::loadgen {
namespace {

using nlohmann::json;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

void send_line(const json& j) {
  std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

int fail_with(int status, const std::string& message) {
  std::fprintf(stderr, "loadgen agent: %s\n", message.c_str());
  send_line({{"error", message}});
  return status;
}

// Only a pipe or a socket tells the driver's end by becoming readable; a
// file or /dev/null is always readable and would stop every run at once.
bool watchable(int fd) {
  struct stat st{};
  return fd >= 0 && ::fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

// Waits until `start_unix_ns`; false when stdin's end or a signal came first.
bool wait_for_start(int64_t start_unix_ns, int in_fd) {
  while (true) {
    int64_t left = start_unix_ns - unix_time_ns();
    if (left <= 0) return true;
    pollfd fds[2] = {{cb::stop_fd(), POLLIN, 0}, {in_fd, POLLIN, 0}};
    int n = ::poll(fds, in_fd >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left / 1'000'000 + 1, 1000)));
    if (n > 0) return false;
  }
}

// Stops the run when stdin becomes readable, and draws progress on stderr
// once a second, until done() is called.
class Watch {
 public:
  Watch(LoadControl& control, int in_fd, std::string host)
      : control_(control), in_fd_(in_fd), done_(::eventfd(0, EFD_CLOEXEC)), host_(std::move(host)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Watch() { done(); }
  void done() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    ssize_t n = ::write(done_.get(), &one, sizeof one);
    (void)n;
    thread_.join();
  }

 private:
  void run() {
    while (true) {
      pollfd fds[2] = {{done_.get(), POLLIN, 0}, {in_fd_, POLLIN, 0}};
      int n = ::poll(fds, in_fd_ >= 0 ? 2 : 1, 1000);
      if (n < 0 && errno != EINTR) return;
      if (fds[0].revents != 0) return;
      if (in_fd_ >= 0 && fds[1].revents != 0) {
        std::fprintf(stderr, "loadgen agent %s: stdin ended, stopping the run\n", host_.c_str());
        control_.stop();
        in_fd_ = -1;  // once is enough
      }
      if (n == 0) std::fprintf(stderr, "loadgen agent %s: %s\n", host_.c_str(), format_progress(control_.progress()).c_str());
    }
  }

  LoadControl& control_;
  int in_fd_;
  Fd done_;
  std::string host_;
  std::thread thread_;
};

template <class T>
T field(const json& j, const char* key) {
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("result: '{}': {}", key, e.what()));
  }
}

}  // namespace

int64_t unix_time_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

const char* build_version() {
  return CB_BUILD_COMMIT;
}

int run_agent(std::istream& in, int in_fd) {
  cb::install_signal_handlers();
  std::string host = host_name();
  send_line({{"agent", "loadgen"},
             {"version", build_version()},
             {"schema_version", kSchemaVersion},
             {"host", host},
             {"pid", ::getpid()},
             {"clock_unix_ns", unix_time_ns()}});
  json doc;
  while (true) {
    try {
      if (!(in >> doc)) return fail_with(2, "stdin ended before a configuration");
    } catch (const json::exception& e) {
      return fail_with(2, fmt::format("stdin is not JSON: {}", e.what()));
    }
    if (!doc.is_object()) return fail_with(2, "want a JSON object on stdin");
    if (!doc.contains("ping")) break;
    send_line({{"pong", doc["ping"]}, {"clock_unix_ns", unix_time_ns()}});
  }
  LoadConfig config;
  int64_t start = 0;
  try {
    for (const auto& [key, value] : doc.items()) {
      if (key != "config" && key != "start_unix_ns") throw std::invalid_argument(fmt::format("unknown key '{}'", key));
    }
    if (!doc.contains("config")) throw std::invalid_argument("no \"config\" object");
    config = config_from_json(doc["config"]);
    if (doc.contains("start_unix_ns")) start = field<int64_t>(doc, "start_unix_ns");
  } catch (const std::invalid_argument& e) {
    return fail_with(2, e.what());
  }
  int64_t now = unix_time_ns();
  if (start > now + kMaxStartAheadNs) {
    return fail_with(2, fmt::format("start_unix_ns is {:.0f} s ahead of this host's clock", static_cast<double>(start - now) / 1e9));
  }
  int watch_fd = watchable(in_fd) ? in_fd : -1;
  if (start > now && !wait_for_start(start, watch_fd)) return fail_with(1, "stopped before the start");
  int64_t started = unix_time_ns();
  std::fprintf(stderr, "loadgen agent %s: %s\n", host.c_str(), describe(config).c_str());
  LoadControl control(cb::stop_fd());
  LoadResult result;
  try {
    Watch watch(control, watch_fd, host);
    result = run_load(config, &control);
  } catch (const std::invalid_argument& e) {
    return fail_with(2, e.what());
  } catch (const std::exception& e) {
    return fail_with(1, e.what());
  }
  json out = result.to_json();
  out["agent"] = {{"version", build_version()},
                  {"host", host},
                  {"start_unix_ns", start > 0 ? json(start) : json(nullptr)},
                  {"started_unix_ns", started},
                  {"start_late_ms", start > 0 ? json(static_cast<double>(started - start) / 1e6) : json(nullptr)}};
  send_line(out);
  return 0;
}

LoadResult result_from_json(const json& doc) {
  if (!doc.is_object() || !doc.contains("config") || !doc.contains("results") || !doc.contains("histograms")) {
    throw std::invalid_argument("result: want an object with config, results and histograms");
  }
  LoadResult r;
  r.config = config_from_json(doc["config"]);
  const json& res = doc["results"];
  Counters& c = r.counters;
  c.requests = field<uint64_t>(res, "requests");
  c.bytes_read = field<uint64_t>(res, "bytes_read");
  c.bytes_written = field<uint64_t>(res, "bytes_written");
  c.connect_attempts = field<uint64_t>(res, "connect_attempts");
  c.connections_opened = field<uint64_t>(res, "connections_opened");
  c.closed_by_server = field<uint64_t>(res, "closed_by_server");
  c.unanswered_through_window = field<uint64_t>(res, "requests_unanswered_through_window");
  c.response_head_bytes = field<uint64_t>(res, "response_header_bytes");
  c.response_body_bytes = field<uint64_t>(res, "response_body_bytes");
  const json& status = field<json>(res, "status");
  static constexpr const char* kStatus[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (std::size_t i = 0; i < c.status_classes.size(); ++i) c.status_classes[i] = field<uint64_t>(status, kStatus[i]);
  const json& errors = field<json>(res, "errors");
  for (std::size_t i = 0; i < kErrorClassCount; ++i) {
    c.errors[i] = field<uint64_t>(errors, error_class_name(static_cast<ErrorClass>(i)));
  }
  r.duration_s = field<double>(res, "duration_s");
  r.cpu_user_s = field<double>(res, "cpu_user_s");
  r.cpu_sys_s = field<double>(res, "cpu_sys_s");
  r.cpu_utilization = field<double>(res, "cpu_utilization");
  r.cpus_usable = field<int>(res, "cpus_usable");
  r.saturated = field<bool>(res, "saturated");
  r.stop_reason = field<std::string>(res, "stop_reason");
  // The fairness sums from the figures written: Σx = mean·n, Σx² = (Σx)²/(n·Jain).
  const json& f = field<json>(res, "fairness");
  r.fairness.connections = field<uint64_t>(f, "connections");
  r.fairness.total = static_cast<uint64_t>(
      std::llround(field<double>(f, "mean_requests_per_conn") * static_cast<double>(r.fairness.connections)));
  r.fairness.min = r.fairness.connections == 0 ? UINT64_MAX : field<uint64_t>(f, "min_requests_per_conn");
  r.fairness.max = field<uint64_t>(f, "max_requests_per_conn");
  if (r.fairness.total > 0 && f.contains("jain_index") && f["jain_index"].is_number()) {
    double sum = static_cast<double>(r.fairness.total);
    r.fairness.sum_squares = sum * sum / (static_cast<double>(r.fairness.connections) * f["jain_index"].get<double>());
  }
  const json& h = doc["histograms"];
  r.corrected = Histogram::from_json(field<json>(h, "corrected"));
  r.uncorrected = Histogram::from_json(field<json>(h, "uncorrected"));
  const json& classes = field<json>(res, "classes");
  const json& class_h = field<json>(h, "classes");
  if (!classes.is_array() || !class_h.is_array() || classes.size() != class_h.size()) {
    throw std::invalid_argument("result: classes and their histograms differ in number");
  }
  for (std::size_t i = 0; i < classes.size(); ++i) {
    ClassResult k;
    k.path = field<std::string>(classes[i], "path");
    k.weight = field<uint32_t>(classes[i], "weight");
    k.corrected = Histogram::from_json(field<json>(class_h[i], "corrected"));
    k.uncorrected = Histogram::from_json(field<json>(class_h[i], "uncorrected"));
    r.classes.push_back(std::move(k));
  }
  return r;
}

LoadResult merge_results(const std::vector<LoadResult>& parts) {
  if (parts.empty()) throw std::invalid_argument("merge: no results");
  LoadResult out;
  out.config = parts.front().config;
  out.config.connections = 0;
  out.config.rate_per_s = 0;
  out.config.source_ips.clear();
  out.classes = parts.front().classes;
  for (ClassResult& k : out.classes) {
    k.corrected.reset();
    k.uncorrected.reset();
  }
  out.cpus_usable = 0;
  out.stop_reason = "duration";
  for (const LoadResult& p : parts) {
    out.config.connections += p.config.connections;
    out.config.rate_per_s += p.config.rate_per_s;
    for (const std::string& ip : p.config.source_ips) out.config.source_ips.push_back(ip);
    out.counters.merge(p.counters);
    out.corrected.merge(p.corrected);
    out.uncorrected.merge(p.uncorrected);
    if (p.classes.size() != out.classes.size()) throw std::invalid_argument("merge: agents with different classes");
    for (std::size_t i = 0; i < p.classes.size(); ++i) {
      if (p.classes[i].path != out.classes[i].path) throw std::invalid_argument("merge: agents with different classes");
      out.classes[i].corrected.merge(p.classes[i].corrected);
      out.classes[i].uncorrected.merge(p.classes[i].uncorrected);
    }
    out.fairness.merge(p.fairness);
    out.duration_s = std::max(out.duration_s, p.duration_s);
    out.cpu_user_s += p.cpu_user_s;
    out.cpu_sys_s += p.cpu_sys_s;
    out.cpus_usable += p.cpus_usable;
    out.saturated = out.saturated || p.saturated;
    if (p.stop_reason != "duration" && out.stop_reason != "unreachable") out.stop_reason = p.stop_reason;
  }
  if (out.duration_s > 0 && out.cpus_usable > 0) {
    out.cpu_utilization = (out.cpu_user_s + out.cpu_sys_s) / (out.duration_s * out.cpus_usable);
  }
  return out;
}

}  // namespace cb::loadgen
