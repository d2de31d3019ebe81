// progress.cpp: see progress.h.
#include "progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace cb::harness {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kUpdateEvery{250};

std::string run_summary(const RunRecord& r) {
  if (!r.ok) return "FAILED: " + r.failure_reason.value_or("?");
  std::string s = "ok";
  if (r.requests_per_s) s += fmt::format("  {} req/s", human_count(*r.requests_per_s));
  if (r.latency) s += fmt::format("  p99 {:.0f}us", r.latency->p99_us);
  if (r.server.cpu_us_per_request) s += fmt::format("  cpu {:.1f}us/req", *r.server.cpu_us_per_request);
  if (r.server.cs_per_request) s += fmt::format("  cs {:.2f}/req", *r.server.cs_per_request);
  if (r.server.pss_per_connection_kb) s += fmt::format("  pss {:.1f}KiB/conn", *r.server.pss_per_connection_kb);
  for (const std::string& w : r.warnings) s += "  [" + w + "]";
  return s;
}

}  // namespace

std::string human_count(double v) {
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string human_seconds(double s) {
  long total = std::lround(std::max(0.0, s));
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, total % 3600 / 60);
  if (total >= 60) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}s", total);
}

Progress::Progress(int total_runs, double estimated_run_s, bool live)
    : total_(total_runs), estimated_run_s_(estimated_run_s), live_(live) {}

bool Progress::live_by_default() {
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::strcmp(ci, "true") == 0) return false;
  return ::isatty(STDERR_FILENO) == 1;
}

void Progress::start_run(int index, const std::string& label) {
  index_ = index;
  label_ = label;
  run_started_ = Clock::now();
  last_update_ = {};
}

void Progress::update(const std::string& phase, double phase_elapsed_s, double phase_total_s,
                      std::optional<double> requests_per_s) {
  if (!live_) return;
  auto now = Clock::now();
  if (now - last_update_ < kUpdateEvery) return;
  last_update_ = now;
  std::string line = fmt::format("[{}/{}] {}  {} {:.1f}/{:.1f}s", index_ + 1, total_, label_, phase,
                                 phase_elapsed_s, phase_total_s);
  if (requests_per_s) line += fmt::format("  {} req/s", human_count(*requests_per_s));
  line += "  ETA " + eta();
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  line_shown_ = true;
}

void Progress::finish_run(const RunRecord& run, double wall_s) {
  ++finished_;
  finished_wall_s_ += wall_s;
  clear_line();
  std::fprintf(stderr, "[%d/%d] %s  %s  (%.1fs)\n", index_ + 1, total_, label_.c_str(),
               run_summary(run).c_str(), wall_s);
  std::fflush(stderr);
}

void Progress::message(const std::string& line) {
  clear_line();
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

std::string Progress::eta() const {
  double per_run = finished_ > 0 ? finished_wall_s_ / finished_ : estimated_run_s_;
  double in_this = std::chrono::duration<double>(Clock::now() - run_started_).count();
  double left = per_run * (total_ - index_) - std::min(in_this, per_run);
  return human_seconds(left);
}

void Progress::clear_line() {
  if (!line_shown_) return;
  std::fprintf(stderr, "\r\033[K");
  line_shown_ = false;
}

}  // namespace cb::harness
