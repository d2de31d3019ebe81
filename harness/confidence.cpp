// confidence.cpp: see confidence.h.
#include "confidence.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace cb::harness {

double t95(int df) {
  // Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
  static constexpr double kTable[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                      2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                      2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                      2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) df = 1;
  if (df <= 30) return kTable[df - 1];
  // Beyond the table: the normal quantile with the first Cornish-Fisher term.
  double z = 1.959964, d = static_cast<double>(df);
  return z + (z * z * z + z) / (4 * d);
}

std::optional<MeanCi> mean_ci(const std::vector<double>& v) {
  if (v.size() < 2) return std::nullopt;
  double n = static_cast<double>(v.size());
  double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
  double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  double sd = std::sqrt(sq / (n - 1));
  return MeanCi{mean, t95(static_cast<int>(v.size()) - 1) * sd / std::sqrt(n), static_cast<int>(v.size())};
}

std::optional<MeanCi> batch_means_ci(const std::vector<double>& v) {
  if (v.size() < 5) return std::nullopt;
  std::size_t b = std::min<std::size_t>(10, v.size());
  std::size_t size = v.size() / b, start = v.size() - size * b;
  std::vector<double> means;
  for (std::size_t i = 0; i < b; ++i) {
    auto first = v.begin() + static_cast<std::ptrdiff_t>(start + i * size);
    means.push_back(std::accumulate(first, first + static_cast<std::ptrdiff_t>(size), 0.0) /
                    static_cast<double>(size));
  }
  auto ci = mean_ci(means);
  if (!ci) return std::nullopt;
  ci->mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return ci;
}

std::vector<double> window_rates(const nlohmann::ordered_json& ts) {
  std::vector<double> out;
  if (!ts.is_object() || !ts.contains("intervals") || !ts.contains("interval_s")) return out;
  double step = ts["interval_s"].get<double>();
  for (const auto& i : ts["intervals"]) {
    if (i.value("warmup", false)) continue;
    if (!i.contains("duration_s") || !i.contains("requests_per_s")) continue;
    if (i["duration_s"].get<double>() < step * 0.999) continue;  // cut by the window's end
    out.push_back(i["requests_per_s"].get<double>());
  }
  return out;
}

std::optional<MeanCi> throughput_ci(const std::vector<const RunRecord*>& runs) {
  std::vector<double> values;
  const RunRecord* only = nullptr;
  for (const RunRecord* r : runs) {
    if (r->ok && r->requests_per_s) {
      values.push_back(*r->requests_per_s);
      only = r;
    }
  }
  if (values.size() >= 2) return mean_ci(values);
  if (values.size() == 1 && only->timeseries) {
    auto ci = batch_means_ci(window_rates(*only->timeseries));
    if (ci) ci->mean = values.front();
    return ci;
  }
  return std::nullopt;
}

}  // namespace cb::harness
