// fairness_test.cpp: Jain's index and the per-slot figures: equal slots give
// 1, one slot with everything 1/n, a known vector its exact value, nothing
// completed no index at all, and merging split slots equals adding them all.
#include "loadgen/fairness.h"

#include <gtest/gtest.h>

#include <initializer_list>

namespace cb::loadgen {
namespace {

Fairness of(std::initializer_list<uint64_t> counts) {
  Fairness f;
  for (uint64_t x : counts) f.add(x);
  return f;
}

TEST(Fairness, EqualSlotsGiveOne) {
  Fairness f = of({845, 845, 845, 845});
  ASSERT_TRUE(f.jain_index());
  EXPECT_DOUBLE_EQ(*f.jain_index(), 1.0);
  EXPECT_EQ(f.min_per_conn(), 845u);
  EXPECT_EQ(f.max, 845u);
  EXPECT_DOUBLE_EQ(f.mean_per_conn(), 845.0);
}

TEST(Fairness, OneSlotWithEverythingGivesOneOverN) {
  Fairness f = of({0, 0, 1234, 0, 0});
  EXPECT_DOUBLE_EQ(*f.jain_index(), 1.0 / 5);
  EXPECT_EQ(f.min_per_conn(), 0u);
  EXPECT_EQ(f.max, 1234u);
}

TEST(Fairness, HalfTheSlotsStarvingGivesOneHalf) {
  EXPECT_DOUBLE_EQ(*of({0, 70, 0, 70}).jain_index(), 0.5);
}

TEST(Fairness, KnownVector) {
  // (1+2+3+4)^2 / (4 * (1+4+9+16)) = 100/120
  Fairness f = of({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(*f.jain_index(), 100.0 / 120);
  EXPECT_EQ(f.connections, 4u);
  EXPECT_EQ(f.total, 10u);
  EXPECT_DOUBLE_EQ(f.mean_per_conn(), 2.5);
}

TEST(Fairness, NothingCompletedHasNoIndex) {
  EXPECT_FALSE(of({0, 0, 0}).jain_index());
  EXPECT_FALSE(Fairness{}.jain_index());
  EXPECT_EQ(Fairness{}.min_per_conn(), 0u);  // not the UINT64_MAX sentinel
  EXPECT_EQ(Fairness{}.mean_per_conn(), 0.0);
}

TEST(Fairness, MergingThreadsEqualsAllSlotsAtOnce) {
  Fairness a = of({3, 9, 0}), b = of({27, 1}), whole = of({3, 9, 0, 27, 1});
  Fairness empty;  // a thread without connections
  a.merge(b);
  a.merge(empty);
  EXPECT_EQ(a.connections, whole.connections);
  EXPECT_EQ(a.total, whole.total);
  EXPECT_EQ(a.min_per_conn(), 0u);
  EXPECT_EQ(a.max, 27u);
  EXPECT_DOUBLE_EQ(*a.jain_index(), *whole.jain_index());
}

}  // namespace
}  // namespace cb::loadgen
