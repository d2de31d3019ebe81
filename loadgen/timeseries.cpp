// timeseries.cpp: see timeseries.h.
#include "timeseries.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace cb::loadgen {

uint64_t CoarseHistogram::lowest_equivalent(std::size_t index) {
  if (index < 64) return index;
  uint64_t bucket = index / 32 - 1;
  uint64_t sub = index - bucket * 32;
  return sub << bucket;
}

uint64_t CoarseHistogram::highest_equivalent(std::size_t index) {
  if (index < 64) return index;
  uint64_t bucket = index / 32 - 1;
  return lowest_equivalent(index) + (uint64_t{1} << bucket) - 1;
}

void CoarseHistogram::merge(const CoarseHistogram& o) {
  for (std::size_t i = 0; i < kSlots; ++i) counts_[i] += o.counts_[i];
  total_ += o.total_;
  max_ = std::max(max_, o.max_);
}

uint64_t CoarseHistogram::value_at_percentile(double p) const {
  if (total_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (std::size_t i = 0; i < kSlots; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_equivalent(i), max_);
  }
  return max_;
}

TimeSeries::TimeSeries(int64_t origin_ns, int64_t interval_ns, int64_t end_ns)
    : origin_ns_(origin_ns), interval_ns_(interval_ns), end_ns_(end_ns) {
  if (interval_ns_ > 0 && end_ns_ != INT64_MAX && end_ns_ > origin_ns_) {
    intervals_.reserve(static_cast<std::size_t>((end_ns_ - origin_ns_ + interval_ns_ - 1) / interval_ns_));
  }
}

Interval* TimeSeries::seek(int64_t now) {
  if (interval_ns_ <= 0 || now < origin_ns_ || now >= end_ns_) return nullptr;
  auto k = static_cast<std::size_t>((now - origin_ns_) / interval_ns_);
  if (k >= intervals_.size()) intervals_.resize(k + 1);
  cur_ = &intervals_[k];
  cur_start_ = origin_ns_ + static_cast<int64_t>(k) * interval_ns_;
  cur_end_ = std::min(cur_start_ + interval_ns_, end_ns_);
  return cur_;
}

void TimeSeries::merge(const TimeSeries& o) {
  if (!o.enabled()) return;
  if (!enabled()) {
    origin_ns_ = o.origin_ns_;
    interval_ns_ = o.interval_ns_;
    end_ns_ = o.end_ns_;
  }
  if (intervals_.size() < o.intervals_.size()) intervals_.resize(o.intervals_.size());
  for (std::size_t k = 0; k < o.intervals_.size(); ++k) {
    Interval& a = intervals_[k];
    const Interval& b = o.intervals_[k];
    a.requests += b.requests;
    a.bytes_read += b.bytes_read;
    a.errors += b.errors;
    a.late += b.late;
    if (b.connections_open >= 0) {
      a.connections_open = a.connections_open >= 0 ? a.connections_open + b.connections_open : b.connections_open;
    }
    a.latency.merge(b.latency);
  }
  cur_ = nullptr;
  cur_start_ = cur_end_ = 0;
}

nlohmann::json TimeSeries::to_json(int64_t window_start_ns, int64_t window_end_ns) const {
  nlohmann::json out = {{"interval_s", static_cast<double>(interval_ns_) / 1e9},
                        {"intervals", nlohmann::json::array()}};
  if (!enabled()) return out;
  int64_t open = -1;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  for (std::size_t k = 0; k < intervals_.size(); ++k) {
    const Interval& i = intervals_[k];
    int64_t start = origin_ns_ + static_cast<int64_t>(k) * interval_ns_;
    if (start >= window_end_ns) break;
    int64_t end = std::min(start + interval_ns_, window_end_ns);
    if (i.connections_open >= 0) open = i.connections_open;
    double dur_s = static_cast<double>(end - start) / 1e9;
    nlohmann::json j = {
        {"start_s", static_cast<double>(start - window_start_ns) / 1e9},
        {"duration_s", dur_s},
        {"warmup", end <= window_start_ns},
        {"requests", i.requests},
        {"requests_per_s", dur_s > 0 ? static_cast<double>(i.requests) / dur_s : 0.0},
        {"bytes_read", i.bytes_read},
        {"errors", i.errors},
        {"late", i.late},
        {"connections_open", open >= 0 ? nlohmann::json(open) : nlohmann::json(nullptr)}};
    if (i.latency.count() > 0) {
      j["p50_us"] = us(i.latency.value_at_percentile(50));
      j["p90_us"] = us(i.latency.value_at_percentile(90));
      j["p99_us"] = us(i.latency.value_at_percentile(99));
      j["max_us"] = us(i.latency.max());
    } else {
      j["p50_us"] = j["p90_us"] = j["p99_us"] = j["max_us"] = nullptr;
    }
    out["intervals"].push_back(std::move(j));
  }
  return out;
}

int64_t series_origin(int64_t warmup_ns, int64_t measure_ns, int64_t interval_ns) {
  if (interval_ns <= 0) return measure_ns;
  int64_t back = measure_ns - warmup_ns;
  int64_t n = back > 0 ? (back + interval_ns - 1) / interval_ns : 0;
  return measure_ns - n * interval_ns;
}

}  // namespace cb::loadgen
