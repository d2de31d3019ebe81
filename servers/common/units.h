// units.h: parsing of human quantities on command lines ("10k", "30s",
// "64KiB", "500us") and the CLI11 validators built on them, so every tool
// accepts the same spellings. Malformed input throws std::invalid_argument
// with a one-line message.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace cb::units {

// "1500", "10k" (×1000), "2M" (×10^6), "1G".
uint64_t parse_count(const std::string& text);
// "512", "64KiB"/"64K"/"64k" (×1024), "1MiB"/"1M", "1GiB"; "64KB" (×1000).
uint64_t parse_size(const std::string& text);
// "250ms", "30s", "2m", "1h", "500us", "100ns"; a bare number is seconds.
std::chrono::nanoseconds parse_duration(const std::string& text);

std::string format_duration(std::chrono::nanoseconds d);  // "1.50s", "250ms"
std::string format_size(uint64_t bytes);                  // "64KiB"

}  // namespace cb::units
