// ascii.h: locale-free ASCII case folding for protocol tokens (HTTP header
// names, Connection options, file extensions). std::tolower depends on the
// C locale and takes an int; these are plain byte arithmetic.
#pragma once

#include <cstddef>
#include <string_view>

namespace cb::ascii {

constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Case-insensitive equality with a token already in lower case.
constexpr bool iequals(std::string_view a, std::string_view lower_b) {
  if (a.size() != lower_b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower_b[i]) return false;
  }
  return true;
}

}  // namespace cb::ascii
