// histogram.h: the latency histogram of the load generator, in the spirit of
// HdrHistogram: log-linear buckets that keep 3 significant digits from 1 ns
// up to 100 s, so every recorded latency is off by at most 1/1024 of itself.
//
// Values are nanoseconds. Below 2048 ns every value has its own slot; above,
// each power-of-two range is split into 1024 equal slots. Recording is one
// count_leading_zeros, a shift and an increment (no allocation, no branch on
// the value's size), so each load thread keeps its own histograms and they
// are merged exactly at the end by adding the slot counts.
//
// Outputs: percentiles and moments, the HdrHistogram ".hgrm" percentile
// distribution text (values in milliseconds, like wrk2), and JSON buckets
// (non-empty slots with their bounds in microseconds) that from_json() reads
// back, so runs written to disk can still be merged exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace cb::loadgen {

class Histogram {
 public:
  // 2^11 slots in the first range: 1024 per half range gives the 3 digits.
  static constexpr int kSubBucketHalfMagnitude = 10;
  static constexpr uint64_t kSubBucketHalfCount = uint64_t{1} << kSubBucketHalfMagnitude;
  static constexpr uint64_t kSubBucketMask = 2 * kSubBucketHalfCount - 1;
  // 100 s: longer latencies are clamped here (and counted in clamped()).
  static constexpr uint64_t kHighestTrackable = 100'000'000'000;
  static constexpr int kSignificantDigits = 3;

  Histogram();

  // Records `count` occurrences of `value_ns`. Never allocates.
  void record(uint64_t value_ns, uint64_t count = 1) {
    if (value_ns > kHighestTrackable) {
      value_ns = kHighestTrackable;
      clamped_ += count;
    }
    counts_[index_of(value_ns)] += count;
    total_ += count;
    if (value_ns < min_) min_ = value_ns;
    if (value_ns > max_) max_ = value_ns;
  }

  // Adds every count of `other`: the result equals the histogram of the union.
  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return total_; }
  uint64_t clamped() const { return clamped_; }
  uint64_t min() const { return total_ == 0 ? 0 : min_; }  // exact, ns
  uint64_t max() const { return max_; }                    // exact, ns
  double mean() const;                                     // ns
  double stdev() const;                                    // ns
  // The value at `percentile` (0..100): the highest value equivalent to the
  // sample of rank ceil(p/100 * count), capped at the exact max. 0 if empty.
  uint64_t value_at_percentile(double percentile) const;

  // One entry per non-empty slot; bounds in ns, upper exclusive.
  struct Bucket {
    uint64_t lower_ns;
    uint64_t upper_ns;
    uint64_t count;
  };
  std::vector<Bucket> buckets() const;

  // The slot layout, public for tests and for readers of the JSON. A value's
  // slot: its power-of-two range ("bucket", 0 below 2048 ns) and its top 11
  // bits. `| kSubBucketMask` puts every value below 2048 in bucket 0.
  static std::size_t index_of(uint64_t value_ns) {
    int msb = 63 - __builtin_clzll(value_ns | kSubBucketMask);
    int bucket = msb - kSubBucketHalfMagnitude;
    uint64_t sub = value_ns >> bucket;
    return static_cast<std::size_t>((static_cast<uint64_t>(bucket) << kSubBucketHalfMagnitude) +
                                    sub);
  }
  static uint64_t lowest_equivalent(std::size_t index);
  static uint64_t slot_width(std::size_t index);
  static std::size_t slot_count();

  // {"unit":"us", ..., "buckets":[{"lower_us":..,"upper_us":..,"count":..}]}
  nlohmann::json to_json() const;
  // Reads what to_json() wrote; throws std::invalid_argument if malformed.
  static Histogram from_json(const nlohmann::json& j);
  // The HdrHistogram percentile-distribution text format, values in ms.
  std::string to_hgrm() const;

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t clamped_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace cb::loadgen
