// progress.h: what the harness tells the person waiting for it, on stderr.
// On a terminal, a status line rewritten in place (run i/N, cell, phase,
// elapsed, current requests/s, ETA) plus one line per finished run; when
// stderr is not a terminal or CI=true, only the one line per run, so logs
// stay readable.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "results.h"

namespace cb::harness {

class Progress {
 public:
  // `estimated_run_s`: the ETA's guess until real runs have been timed.
  Progress(int total_runs, double estimated_run_s, bool live);
  // True when stderr is a terminal and CI is not "true".
  static bool live_by_default();

  void start_run(int index, const std::string& label);  // index 0-based
  // Live mode only, throttled to a few updates a second.
  void update(const std::string& phase, double phase_elapsed_s, double phase_total_s,
              std::optional<double> requests_per_s);
  void finish_run(const RunRecord& run, double wall_s);
  void message(const std::string& line);  // a line of its own
  void add_runs(int n) { total_ += n; }    // the plan grew (--target-ci)

 private:
  std::string eta() const;
  void clear_line();

  int total_;
  double estimated_run_s_;
  bool live_;
  int index_ = 0;
  int finished_ = 0;
  double finished_wall_s_ = 0;
  std::string label_;
  std::chrono::steady_clock::time_point run_started_{};
  std::chrono::steady_clock::time_point last_update_{};
  bool line_shown_ = false;
};

// "45.1k", "812", "1.20M".
std::string human_count(double v);
// "3m12s", "45s".
std::string human_seconds(double s);

}  // namespace cb::harness
