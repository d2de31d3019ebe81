// units.cpp: see units.h.
#include "common/units.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace cb::units {
namespace {

// Splits "64KiB" into 64 and "KiB"; refuses empty numbers and signs.
std::pair<double, std::string> split_number(const std::string& text, const char* what) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0) throw std::invalid_argument(fmt::format("invalid {} '{}'", what, text));
  double value = 0;
  try {
    std::size_t used = 0;
    value = std::stod(text.substr(0, i), &used);
    if (used != i) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw std::invalid_argument(fmt::format("invalid {} '{}'", what, text));
  }
  return {value, text.substr(i)};
}

uint64_t checked(double value, const std::string& text, const char* what) {
  // "16.1k" is 16100.000000000002 in binary floating point: allow that much
  // rounding error, but not a real fraction such as "0.1KiB" (102.4).
  double whole = std::round(value);
  if (!std::isfinite(value) || value < 0 || whole > 1.8e19 ||
      std::fabs(value - whole) > 1e-9 * std::max(1.0, whole)) {
    throw std::invalid_argument(fmt::format("invalid {} '{}' (not a whole number)", what, text));
  }
  return static_cast<uint64_t>(whole);
}

// Whole multiples of a unit print without decimals ("64KiB", "250ms").
std::string format_scaled(double value, double unit, const char* suffix) {
  double scaled = value / unit;
  if (scaled == std::floor(scaled)) return fmt::format("{:.0f}{}", scaled, suffix);
  return fmt::format("{:.2f}{}", scaled, suffix);
}

}  // namespace

uint64_t parse_count(const std::string& text) {
  auto [value, suffix] = split_number(text, "count");
  double scale = 1;
  if (suffix == "k" || suffix == "K") scale = 1e3;
  else if (suffix == "M" || suffix == "m") scale = 1e6;
  else if (suffix == "G" || suffix == "g") scale = 1e9;
  else if (!suffix.empty())
    throw std::invalid_argument(fmt::format("invalid count '{}' (use k, M or G)", text));
  return checked(value * scale, text, "count");
}

uint64_t parse_size(const std::string& text) {
  auto [value, suffix] = split_number(text, "size");
  double scale = 1;
  if (suffix.empty() || suffix == "B") scale = 1;
  else if (suffix == "k" || suffix == "K" || suffix == "KiB") scale = 1024.0;
  else if (suffix == "M" || suffix == "MiB") scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (suffix == "KB" || suffix == "kB") scale = 1e3;
  else if (suffix == "MB") scale = 1e6;
  else if (suffix == "GB") scale = 1e9;
  else
    throw std::invalid_argument(fmt::format("invalid size '{}' (use B, KiB, MiB or GiB)", text));
  return checked(value * scale, text, "size");
}

std::chrono::nanoseconds parse_duration(const std::string& text) {
  auto [value, suffix] = split_number(text, "duration");
  double ns_per_unit = 1e9;
  if (suffix.empty() || suffix == "s") ns_per_unit = 1e9;
  else if (suffix == "ms") ns_per_unit = 1e6;
  else if (suffix == "us") ns_per_unit = 1e3;
  else if (suffix == "ns") ns_per_unit = 1;
  else if (suffix == "m" || suffix == "min") ns_per_unit = 60e9;
  else if (suffix == "h") ns_per_unit = 3600e9;
  else
    throw std::invalid_argument(
        fmt::format("invalid duration '{}' (use ns, us, ms, s, m or h)", text));
  double ns = value * ns_per_unit;
  if (!std::isfinite(ns) || ns > 9.2e18) {
    throw std::invalid_argument(fmt::format("invalid duration '{}' (too long)", text));
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

std::string format_duration(std::chrono::nanoseconds d) {
  double ns = static_cast<double>(d.count());
  if (ns >= 1e9) return format_scaled(ns, 1e9, "s");
  if (ns >= 1e6) return format_scaled(ns, 1e6, "ms");
  if (ns >= 1e3) return format_scaled(ns, 1e3, "us");
  return fmt::format("{:.0f}ns", ns);
}

std::string format_size(uint64_t bytes) {
  double b = static_cast<double>(bytes);
  if (bytes >= (1ull << 30)) return format_scaled(b, 1ull << 30, "GiB");
  if (bytes >= (1ull << 20)) return format_scaled(b, 1ull << 20, "MiB");
  if (bytes >= (1ull << 10)) return format_scaled(b, 1ull << 10, "KiB");
  return fmt::format("{}B", bytes);
}

}  // namespace cb::units
