// histogram.cpp: see histogram.h.
#include "histogram.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace cb::loadgen {
namespace {

constexpr std::size_t kFirstRangeSlots = 2 * Histogram::kSubBucketHalfCount;

double ns_to_us(uint64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

uint64_t us_to_ns(double us) {
  if (!std::isfinite(us) || us < 0) throw std::invalid_argument("histogram: bad value");
  return static_cast<uint64_t>(std::llround(us * 1e3));
}

}  // namespace

Histogram::Histogram() : counts_(slot_count(), 0) {}

std::size_t Histogram::slot_count() {
  return index_of(kHighestTrackable) + 1;
}

uint64_t Histogram::lowest_equivalent(std::size_t index) {
  if (index < kFirstRangeSlots) return index;
  int bucket = static_cast<int>(index >> kSubBucketHalfMagnitude) - 1;
  uint64_t sub = index - (static_cast<std::size_t>(bucket) << kSubBucketHalfMagnitude);
  return sub << bucket;
}

uint64_t Histogram::slot_width(std::size_t index) {
  if (index < kFirstRangeSlots) return 1;
  int bucket = static_cast<int>(index >> kSubBucketHalfMagnitude) - 1;
  return uint64_t{1} << bucket;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  clamped_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

// Moments use each slot's midpoint: at most 1/2048 off, and exact to merge.
double Histogram::mean() const {
  if (total_ == 0) return 0;
  double sum = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    double mid =
        static_cast<double>(lowest_equivalent(i)) + static_cast<double>(slot_width(i) - 1) / 2;
    sum += mid * static_cast<double>(counts_[i]);
  }
  return sum / static_cast<double>(total_);
}

double Histogram::stdev() const {
  if (total_ == 0) return 0;
  double m = mean();
  double sum_sq = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    double mid =
        static_cast<double>(lowest_equivalent(i)) + static_cast<double>(slot_width(i) - 1) / 2;
    sum_sq += (mid - m) * (mid - m) * static_cast<double>(counts_[i]);
  }
  return std::sqrt(sum_sq / static_cast<double>(total_));
}

uint64_t Histogram::value_at_percentile(double percentile) const {
  if (total_ == 0) return 0;
  if (percentile <= 0) return min();
  double p = std::min(percentile, 100.0);
  // The tiny shrink keeps 99.99% of 10000 at rank 9999, not 10000, when the
  // product lands a rounding error above a whole number.
  double wanted = std::ceil(p / 100.0 * static_cast<double>(total_) * (1 - 1e-12));
  uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(wanted));
  uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(lowest_equivalent(i) + slot_width(i) - 1, max_);
  }
  return max_;
}

std::vector<Histogram::Bucket> Histogram::buckets() const {
  std::vector<Bucket> out;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    uint64_t lower = lowest_equivalent(i);
    out.push_back({lower, lower + slot_width(i), counts_[i]});
  }
  return out;
}

nlohmann::json Histogram::to_json() const {
  nlohmann::json buckets_json = nlohmann::json::array();
  for (const Bucket& b : buckets()) {
    buckets_json.push_back({{"lower_us", ns_to_us(b.lower_ns)},
                            {"upper_us", ns_to_us(b.upper_ns)},
                            {"count", b.count}});
  }
  return {{"unit", "us"},
          {"significant_digits", kSignificantDigits},
          {"lowest_discernible_us", ns_to_us(1)},
          {"highest_trackable_us", ns_to_us(kHighestTrackable)},
          {"count", total_},
          {"clamped", clamped_},
          {"min_us", ns_to_us(min())},
          {"max_us", ns_to_us(max_)},
          {"mean_us", mean() / 1e3},
          {"stdev_us", stdev() / 1e3},
          {"buckets", std::move(buckets_json)}};
}

Histogram Histogram::from_json(const nlohmann::json& j) {
  Histogram h;
  try {
    for (const auto& b : j.at("buckets")) {
      uint64_t lower = us_to_ns(b.at("lower_us").get<double>());
      std::size_t index = index_of(lower);
      if (index >= h.counts_.size() || lowest_equivalent(index) != lower) {
        throw std::invalid_argument("histogram: bucket bound is not a slot boundary");
      }
      uint64_t count = b.at("count").get<uint64_t>();
      h.counts_[index] += count;
      h.total_ += count;
    }
    h.clamped_ = j.at("clamped").get<uint64_t>();
    if (h.total_ > 0) {
      h.min_ = us_to_ns(j.at("min_us").get<double>());
      h.max_ = us_to_ns(j.at("max_us").get<double>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("histogram: ") + e.what());
  }
  return h;
}

// Percentile levels as HdrHistogram reports them: five steps per halving of
// the distance to 100% (0, 10, .., 50, 55, .., 75, 77.5, ..), so the tail
// gets as many lines as the body.
std::string Histogram::to_hgrm() const {
  constexpr double kNsPerMs = 1e6;
  constexpr int kTicksPerHalfDistance = 5;
  std::string out = fmt::format("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile",
                                "TotalCount", "1/(1-Percentile)");
  if (total_ > 0) {
    double level = 0;
    for (int line = 0; line < 10000 && level < 100.0; ++line) {
      uint64_t value = value_at_percentile(level);
      uint64_t at_or_below = 0;
      std::size_t last = index_of(value);
      for (std::size_t i = 0; i <= last; ++i) at_or_below += counts_[i];
      if (at_or_below >= total_) break;
      out +=
          fmt::format("{:12.3f} {:2.12f} {:10d} {:14.2f}\n", static_cast<double>(value) / kNsPerMs,
                      level / 100, at_or_below, 1 / (1 - level / 100));
      double halvings = std::floor(std::log2(100.0 / (100.0 - level)));
      double ticks = kTicksPerHalfDistance * std::pow(2.0, halvings + 1);
      level += 100.0 / ticks;
    }
    out += fmt::format("{:12.3f} {:2.12f} {:10d}\n", static_cast<double>(max_) / kNsPerMs, 1.0,
                       total_);
  }
  out += fmt::format("#[Mean    = {:12.3f}, StdDeviation   = {:12.3f}]\n", mean() / kNsPerMs,
                     stdev() / kNsPerMs);
  out += fmt::format("#[Max     = {:12.3f}, Total count    = {:12d}]\n",
                     static_cast<double>(max_) / kNsPerMs, total_);
  out += fmt::format("#[Buckets = {:12d}, SubBuckets     = {:12d}]\n",
                     index_of(kHighestTrackable) >> kSubBucketHalfMagnitude, kFirstRangeSlots);
  return out;
}

}  // namespace cb::loadgen
