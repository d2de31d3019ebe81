// http_date.h: comparing HTTP responses byte for byte although each carries
// the time it was sent. mask_date() replaces every well-formed Date header
// line ("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n") with kMaskedDate, so an
// expected response spells its Date line as kMaskedDate; a Date value that
// is not an IMF-fixdate is left as it is and the comparison fails.
// Header-only: the servers' unit tests and the whole-server tests share it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cb::testing {

// A macro too, so expected responses can be written as one literal.
#define CB_MASKED_DATE "Date: <masked>\r\n"
inline constexpr std::string_view kMaskedDate = CB_MASKED_DATE;

// A real Date line: "Date: " + the 29-byte IMF-fixdate + CRLF.
inline constexpr std::size_t kDateLineBytes = 37;

// The size on the wire of an expected response written with kMaskedDate.
inline std::size_t unmasked_size(std::string_view masked) {
  std::size_t n = masked.size();
  for (std::size_t at = masked.find(kMaskedDate); at != std::string_view::npos;
       at = masked.find(kMaskedDate, at + 1)) {
    n += kDateLineBytes - kMaskedDate.size();
  }
  return n;
}

// RFC 9110 5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT", exactly 29 bytes.
inline bool is_imf_fixdate(std::string_view v) {
  static constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (v.size() != 29) return false;
  auto one_of = [](std::string_view s, const auto& names) {
    for (std::string_view n : names) {
      if (s == n) return true;
    }
    return false;
  };
  auto number = [&v](std::size_t at, std::size_t n, int max) {
    int value = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (v[i] < '0' || v[i] > '9') return false;
      value = value * 10 + (v[i] - '0');
    }
    return value <= max;
  };
  return one_of(v.substr(0, 3), kDays) && v.substr(3, 2) == ", " && number(5, 2, 31) &&
         v[7] == ' ' && one_of(v.substr(8, 3), kMonths) && v[11] == ' ' && number(12, 4, 9999) &&
         v[16] == ' ' && number(17, 2, 23) && v[19] == ':' && number(20, 2, 59) && v[22] == ':' &&
         number(23, 2, 60) && v.substr(25) == " GMT";
}

inline std::string mask_date(std::string_view bytes) {
  static constexpr std::string_view kName = "\r\nDate: ";
  std::string out;
  out.reserve(bytes.size());
  std::size_t from = 0;
  for (std::size_t at = bytes.find(kName); at != std::string_view::npos;
       at = bytes.find(kName, at + 1)) {
    std::size_t value = at + kName.size();
    if (value + 31 > bytes.size() || !is_imf_fixdate(bytes.substr(value, 29)) ||
        bytes.substr(value + 29, 2) != "\r\n") {
      continue;
    }
    out.append(bytes.substr(from, at + 2 - from));
    out.append(kMaskedDate);
    from = value + 31;
  }
  out.append(bytes.substr(from));
  return out;
}

}  // namespace cb::testing
