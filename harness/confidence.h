// confidence.h: the 95% confidence interval of a cell's throughput, for
// --target-ci (repeat a cell until its interval is narrow enough).
//
// The same rules as plots/uncertainty.py: with two or more successful
// repetitions, Student's t interval of their mean requests/s; with one,
// batch means over its time series (the window's full-length intervals cut
// into up to 10 consecutive batches, at least 5 values), t with batches − 1
// degrees of freedom.
#pragma once

#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "results.h"

namespace cb::harness {

struct MeanCi {
  double mean = 0;
  double half_width = 0;  // of the 95% interval
  int n = 0;              // values (repetitions or batches) behind it
  double relative() const { return mean != 0 ? half_width / mean : 0; }
};

// Student's t quantile for a two-sided 95% interval (df >= 1).
double t95(int df);

// t interval of the mean of independent values; nullopt below two.
std::optional<MeanCi> mean_ci(const std::vector<double>& values);

// Batch means of a series: up to 10 equal consecutive batches (leftover
// values at the start dropped); nullopt below 5 values.
std::optional<MeanCi> batch_means_ci(const std::vector<double>& values);

// requests_per_s of each full-length window interval of a run's timeseries.
std::vector<double> window_rates(const nlohmann::ordered_json& timeseries);

// The cell's interval from its successful runs (see above).
std::optional<MeanCi> throughput_ci(const std::vector<const RunRecord*>& runs);

}  // namespace cb::harness
