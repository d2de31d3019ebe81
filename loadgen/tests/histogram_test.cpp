// histogram_test.cpp: the latency histogram against exact sorted samples:
// percentiles within one slot (3 significant digits), merge equal to the
// histogram of the union, JSON round trip, .hgrm text.
#include "loadgen/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

namespace cb::loadgen {
namespace {

// Log-uniform values from 1 us to 10 s: every range of the histogram is hit.
std::vector<uint64_t> samples(std::size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> exponent(3, 10);
  std::vector<uint64_t> v(n);
  for (uint64_t& x : v) x = static_cast<uint64_t>(std::pow(10.0, exponent(rng)));
  return v;
}

uint64_t exact_percentile(std::vector<uint64_t> sorted, double p) {
  std::sort(sorted.begin(), sorted.end());
  auto rank = static_cast<std::size_t>(
      std::ceil(p / 100.0 * static_cast<double>(sorted.size()) * (1 - 1e-12)));
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

TEST(Histogram, SlotLayoutIsContiguousAndKeepsThreeDigits) {
  for (std::size_t i = 1; i < Histogram::slot_count(); ++i) {
    ASSERT_EQ(Histogram::lowest_equivalent(i - 1) + Histogram::slot_width(i - 1),
              Histogram::lowest_equivalent(i))
        << "slot " << i;
    ASSERT_EQ(Histogram::index_of(Histogram::lowest_equivalent(i)), i);
    ASSERT_EQ(Histogram::index_of(Histogram::lowest_equivalent(i) + Histogram::slot_width(i) - 1),
              i);
    // 3 significant digits: from 1 us up, a slot is at most 1/1000 of its values.
    if (Histogram::lowest_equivalent(i) >= 1000) {
      ASSERT_LE(Histogram::slot_width(i) * 1000, Histogram::lowest_equivalent(i)) << "slot " << i;
    }
  }
  EXPECT_EQ(Histogram::index_of(Histogram::kHighestTrackable), Histogram::slot_count() - 1);
}

TEST(Histogram, PercentilesMatchSortedSamplesWithinOneSlot) {
  std::vector<uint64_t> v = samples(100000, 1);
  Histogram h;
  for (uint64_t x : v) h.record(x);
  ASSERT_EQ(h.count(), v.size());
  for (double p : {1.0, 10.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    uint64_t exact = exact_percentile(v, p);
    uint64_t got = h.value_at_percentile(p);
    // The reported value is the top of the exact sample's slot.
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(got - exact, exact / 1000) << "p" << p;
  }
  EXPECT_EQ(h.min(), *std::min_element(v.begin(), v.end()));
  EXPECT_EQ(h.max(), *std::max_element(v.begin(), v.end()));
}

TEST(Histogram, MeanAndStdevAreWithinSlotError) {
  std::vector<uint64_t> v = samples(50000, 2);
  Histogram h;
  double sum = 0, sum_sq = 0;
  for (uint64_t x : v) {
    h.record(x);
    sum += static_cast<double>(x);
  }
  double mean = sum / static_cast<double>(v.size());
  for (uint64_t x : v) sum_sq += (static_cast<double>(x) - mean) * (static_cast<double>(x) - mean);
  double stdev = std::sqrt(sum_sq / static_cast<double>(v.size()));
  EXPECT_NEAR(h.mean(), mean, mean / 1000);
  EXPECT_NEAR(h.stdev(), stdev, stdev / 1000);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t x = 0; x < 2048; ++x) h.record(x);
  for (uint64_t x = 1; x <= 2048; ++x) {
    EXPECT_EQ(h.value_at_percentile(100.0 * static_cast<double>(x) / 2048), x - 1);
  }
}

TEST(Histogram, MergeEqualsHistogramOfTheUnion) {
  std::vector<uint64_t> a = samples(30000, 3), b = samples(20000, 4);
  Histogram ha, hb, all;
  for (uint64_t x : a) ha.record(x), all.record(x);
  for (uint64_t x : b) hb.record(x), all.record(x);
  ha.merge(hb);
  EXPECT_EQ(ha.count(), all.count());
  EXPECT_EQ(ha.min(), all.min());
  EXPECT_EQ(ha.max(), all.max());
  auto ba = ha.buckets(), bu = all.buckets();
  ASSERT_EQ(ba.size(), bu.size());
  for (std::size_t i = 0; i < ba.size(); ++i) {
    EXPECT_EQ(ba[i].lower_ns, bu[i].lower_ns);
    EXPECT_EQ(ba[i].count, bu[i].count);
  }
  for (double p : {50.0, 99.0, 99.99})
    EXPECT_EQ(ha.value_at_percentile(p), all.value_at_percentile(p));
}

TEST(Histogram, ValuesAboveTheRangeAreClampedAndCounted) {
  Histogram h;
  h.record(500'000'000'000);  // 500 s
  h.record(1000);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.max(), Histogram::kHighestTrackable);
}

TEST(Histogram, JsonRoundTripIsExact) {
  std::vector<uint64_t> v = samples(10000, 5);
  Histogram h;
  for (uint64_t x : v) h.record(x, 3);
  nlohmann::json j = nlohmann::json::parse(h.to_json().dump());
  EXPECT_EQ(j["unit"], "us");
  EXPECT_EQ(j["count"].get<uint64_t>(), 30000u);
  Histogram back = Histogram::from_json(j);
  EXPECT_EQ(back.count(), h.count());
  EXPECT_EQ(back.min(), h.min());
  EXPECT_EQ(back.max(), h.max());
  for (double p : {0.0, 50.0, 90.0, 99.9, 100.0}) {
    EXPECT_EQ(back.value_at_percentile(p), h.value_at_percentile(p));
  }
  nlohmann::json bad = j;
  bad["buckets"][0]["lower_us"] = 1234.5678;  // not a slot boundary
  EXPECT_THROW(Histogram::from_json(bad), std::invalid_argument);
}

TEST(Histogram, HgrmHasHeaderRowsAndFooter) {
  Histogram h;
  for (uint64_t x = 1; x <= 1000; ++x) h.record(x * 1000);  // 1 us .. 1 ms
  std::string text = h.to_hgrm();
  EXPECT_EQ(text.rfind("       Value     Percentile TotalCount 1/(1-Percentile)\n\n", 0), 0u);
  EXPECT_NE(text.find("       0.500 0.500000000000        500           2.00\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("       1.000 1.000000000000       1000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("#[Max     =        1.000, Total count    =         1000]\n"),
            std::string::npos);
  EXPECT_NE(text.find("#[Buckets =           27, SubBuckets     =         2048]\n"),
            std::string::npos);
}

TEST(Histogram, EmptyHistogramReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.value_at_percentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0);
  EXPECT_TRUE(h.buckets().empty());
}

}  // namespace
}  // namespace cb::loadgen
