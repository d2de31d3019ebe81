// test_units.cpp: unit tests of cb::units (servers/common/units.*), the
// parser every command line shares for counts, sizes and durations. Run:
//   ctest --test-dir build -R 'Units'
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "common/units.h"

namespace cb::units {
namespace {

using std::chrono::nanoseconds;

TEST(Units, ParseCount) {
  EXPECT_EQ(parse_count("0"), 0u);
  EXPECT_EQ(parse_count("1500"), 1500u);
  EXPECT_EQ(parse_count("10k"), 10'000u);
  EXPECT_EQ(parse_count("10K"), 10'000u);
  EXPECT_EQ(parse_count("2M"), 2'000'000u);
  EXPECT_EQ(parse_count("1G"), 1'000'000'000u);
  EXPECT_EQ(parse_count("1.5k"), 1500u);
}

TEST(Units, DecimalsThatAreNotExactInBinaryStillParse) {
  // 16.1 * 1000 is 16100.000000000002 in doubles; it was refused as "not a
  // whole number" before.
  EXPECT_EQ(parse_count("16.1k"), 16'100u);
  EXPECT_EQ(parse_count("2.01k"), 2'010u);
  EXPECT_EQ(parse_count("32.3k"), 32'300u);
  EXPECT_EQ(parse_count("0.001M"), 1'000u);
  EXPECT_EQ(parse_size("1.1MB"), 1'100'000u);
  for (int i = 1; i < 1000; ++i) {
    std::string text = std::to_string(i / 100) + "." + std::to_string(i % 100 / 10) +
                       std::to_string(i % 10) + "k";
    EXPECT_EQ(parse_count(text), static_cast<uint64_t>(i) * 10) << text;
  }
}

TEST(Units, ParseCountRejects) {
  for (const char* bad : {"", "k", "-1", "+1", "1.5", "10x", "10kk", "1e3", ".", "1.2.3", " 1"}) {
    EXPECT_THROW(parse_count(bad), std::invalid_argument) << bad;
  }
}

TEST(Units, ParseSize) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("64KiB"), 64u * 1024);
  EXPECT_EQ(parse_size("64K"), 64u * 1024);
  EXPECT_EQ(parse_size("64k"), 64u * 1024);
  EXPECT_EQ(parse_size("1MiB"), 1u << 20);
  EXPECT_EQ(parse_size("1M"), 1u << 20);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("64KB"), 64'000u);
  EXPECT_EQ(parse_size("1MB"), 1'000'000u);
  EXPECT_EQ(parse_size("1.5KiB"), 1536u);
}

TEST(Units, ParseSizeRejects) {
  for (const char* bad : {"", "KiB", "0.1KiB", "1.5", "64kib", "64Kb", "1TiB", "-1K", "1 KiB"}) {
    EXPECT_THROW(parse_size(bad), std::invalid_argument) << bad;
  }
}

TEST(Units, ParseDuration) {
  EXPECT_EQ(parse_duration("30"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("30s"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("500us"), std::chrono::microseconds(500));
  EXPECT_EQ(parse_duration("100ns"), nanoseconds(100));
  EXPECT_EQ(parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(parse_duration("2min"), std::chrono::minutes(2));
  EXPECT_EQ(parse_duration("1h"), std::chrono::hours(1));
  EXPECT_EQ(parse_duration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(parse_duration("0.1ms"), std::chrono::microseconds(100));
  EXPECT_EQ(parse_duration("16.1ms"), std::chrono::microseconds(16'100));
}

TEST(Units, ParseDurationRejects) {
  for (const char* bad : {"", "s", "-1s", "1d", "1sec", "1 s", "1e2s", "999999999999h"}) {
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
  }
}

TEST(Units, ErrorMessagesNameTheInput) {
  try {
    parse_size("12parsecs");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'12parsecs'"), std::string::npos) << e.what();
  }
}

TEST(Units, FormatSizeAsTheHeaderDocuments) {
  EXPECT_EQ(format_size(0), "0B");
  EXPECT_EQ(format_size(1023), "1023B");
  EXPECT_EQ(format_size(1024), "1KiB");
  EXPECT_EQ(format_size(64 * 1024), "64KiB");
  EXPECT_EQ(format_size(1536), "1.50KiB");
  EXPECT_EQ(format_size(1u << 20), "1MiB");
  EXPECT_EQ(format_size((1u << 20) + (1u << 19)), "1.50MiB");
  EXPECT_EQ(format_size(3ull << 30), "3GiB");
}

TEST(Units, FormatDurationAsTheHeaderDocuments) {
  EXPECT_EQ(format_duration(nanoseconds(999)), "999ns");
  EXPECT_EQ(format_duration(std::chrono::microseconds(5)), "5us");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(1500)), "1.50s");
  EXPECT_EQ(format_duration(std::chrono::seconds(30)), "30s");
  EXPECT_EQ(format_duration(std::chrono::microseconds(1250)), "1.25ms");
}

TEST(Units, FormattedSizesParseBack) {
  for (uint64_t v : {uint64_t{1}, uint64_t{1024}, uint64_t{64} << 10, uint64_t{1536},
                     uint64_t{5} << 20, uint64_t{2} << 30}) {
    EXPECT_EQ(parse_size(format_size(v)), v) << format_size(v);
  }
}

}  // namespace
}  // namespace cb::units
