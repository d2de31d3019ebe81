// timeseries.h: what a run did interval by interval (every 250 ms by
// default, --interval), from the start of the warm-up to the end of the
// measured window, so a reader can see throughput and tail latency move
// over time and statistics can use the intervals as batches.
//
// The intervals are aligned on the window's start: interval k covers
// [origin + k*I, origin + (k+1)*I), and origin = window start - n*I with n
// the smallest count that reaches back to the warm-up's start. Intervals
// that end at or before the window's start are warm-up; the others
// partition the measured window exactly (the last one is cut at the
// window's end), so their requests add up to the run's total.
//
// Each interval keeps its responses, bytes read, errors (every class but
// `late`), late sends, the connections open when it ended and a coarse
// latency histogram (32 slots per power of two: every value within 1/32 of
// itself, 4 KiB per interval) for its percentiles. Recording is a compare,
// an increment or two and one histogram slot; a new interval appends one
// entry (the only allocation, four times a second).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <vector>

namespace cb::loadgen {

class CoarseHistogram {
 public:
  static constexpr int kSubBits = 5;  // 32 slots per power of two
  static constexpr uint64_t kSubMask = (uint64_t{2} << kSubBits) - 1;
  static constexpr uint64_t kHighest = 100'000'000'000;  // 100 s, as Histogram
  static constexpr std::size_t kSlots = (37 - kSubBits) * (std::size_t{1} << kSubBits) + 64;

  static std::size_t index_of(uint64_t v) {
    int msb = 63 - __builtin_clzll(v | kSubMask);
    int bucket = msb - kSubBits;
    return static_cast<std::size_t>((static_cast<uint64_t>(bucket) << kSubBits) + (v >> bucket));
  }
  static uint64_t lowest_equivalent(std::size_t index);
  static uint64_t highest_equivalent(std::size_t index);  // inclusive

  void record(uint64_t value_ns) {
    if (value_ns > kHighest) value_ns = kHighest;
    ++counts_[index_of(value_ns)];
    ++total_;
    if (value_ns > max_) max_ = value_ns;
  }
  void merge(const CoarseHistogram& o);
  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  // The highest value of the slot holding the sample of rank
  // ceil(p/100 * count), capped at the exact max; 0 when empty.
  uint64_t value_at_percentile(double p) const;

 private:
  std::array<uint32_t, kSlots> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

struct Interval {
  uint64_t requests = 0;  // responses completed in the interval
  uint64_t bytes_read = 0;
  uint64_t errors = 0;  // every class but late
  uint64_t late = 0;
  int64_t connections_open = -1;  // at the last event seen in it; -1: none seen
  CoarseHistogram latency;        // corrected (from intended send times)
};

class TimeSeries {
 public:
  TimeSeries() = default;
  // Intervals of `interval_ns` from `origin_ns`; nothing is recorded at or
  // after `end_ns`. interval_ns 0 = off (every call is a no-op).
  TimeSeries(int64_t origin_ns, int64_t interval_ns, int64_t end_ns);

  bool enabled() const { return interval_ns_ > 0; }
  int64_t origin_ns() const { return origin_ns_; }
  int64_t interval_ns() const { return interval_ns_; }
  const std::vector<Interval>& intervals() const { return intervals_; }

  // The interval of `now`, or null outside [origin, end).
  Interval* at(int64_t now) {
    if (now >= cur_start_ && now < cur_end_) return cur_;
    return seek(now);
  }
  void response(int64_t now, uint64_t latency_ns, int64_t open) {
    if (Interval* i = at(now)) {
      ++i->requests;
      i->latency.record(latency_ns);
      i->connections_open = open;
    }
  }
  void bytes_read(int64_t now, uint64_t n) {
    if (Interval* i = at(now)) i->bytes_read += n;
  }
  void error(int64_t now) {
    if (Interval* i = at(now)) ++i->errors;
  }
  void late(int64_t now) {
    if (Interval* i = at(now)) ++i->late;
  }
  // Connections open changed, with no clock at hand: noted in the interval
  // last recorded into.
  void connections(int64_t open) {
    if (cur_ != nullptr) cur_->connections_open = open;
  }

  // Adds another thread's series (same origin and interval): counts and
  // histograms add up; open connections add where both saw a value.
  void merge(const TimeSeries& o);

  // {"interval_s", "intervals": [...]}: each interval's start relative to
  // `window_start_ns` (negative: warm-up), its length (cut at
  // `window_end_ns`), counts, rate and latency percentiles. Intervals
  // after window_end_ns are dropped; open connections carry forward
  // through intervals that saw no event.
  nlohmann::json to_json(int64_t window_start_ns, int64_t window_end_ns) const;

 private:
  Interval* seek(int64_t now);

  int64_t origin_ns_ = 0;
  int64_t interval_ns_ = 0;
  int64_t end_ns_ = 0;
  std::vector<Interval> intervals_;
  Interval* cur_ = nullptr;
  int64_t cur_start_ = 0, cur_end_ = 0;
};

// Where the series of a run starts: the window's start minus whole
// intervals, reaching back to `warmup_ns` (the warm-up's start).
int64_t series_origin(int64_t warmup_ns, int64_t measure_ns, int64_t interval_ns);

}  // namespace cb::loadgen
