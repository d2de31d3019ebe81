// app.cpp: see app.h.
#include "protocol/app.h"

#include <cstddef>

namespace cb::proto {
namespace {

// A decimal u32 no larger than `max`: digits only, no sign, no leading '+'.
bool parse_bounded(std::string_view digits, uint32_t max, uint32_t* out) {
  // 10 digits hold every u32; more is out of bounds whatever they say.
  if (digits.empty() || digits.size() > 10) return false;
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > max) return false;
  *out = static_cast<uint32_t>(value);
  return true;
}

struct Field {
  std::string_view name;
  uint32_t max;
  uint32_t AppParams::*member;
};

constexpr Field kFields[] = {
    {"cpu_us", kMaxAppCpuUs, &AppParams::cpu_us},
    {"calls", kMaxAppCalls, &AppParams::calls},
    {"delay_us", kMaxAppDelayUs, &AppParams::delay_us},
    {"bytes", kMaxAppBytes, &AppParams::bytes},
};

bool parse_pair(std::string_view pair, AppParams* out, unsigned* seen) {
  std::size_t eq = pair.find('=');
  if (eq == std::string_view::npos) return false;
  std::string_view name = pair.substr(0, eq);
  for (std::size_t i = 0; i < std::size(kFields); ++i) {
    if (kFields[i].name != name) continue;
    if (*seen & (1u << i)) return false;  // repeated: which one was meant?
    *seen |= 1u << i;
    return parse_bounded(pair.substr(eq + 1), kFields[i].max, &(out->*kFields[i].member));
  }
  return false;  // unknown name: a typo must not silently mean 0
}

}  // namespace

bool parse_app_query(std::string_view query, AppParams* out) {
  *out = AppParams{};
  if (query.empty()) return true;
  unsigned seen = 0;
  for (;;) {
    std::size_t amp = query.find('&');
    if (!parse_pair(query.substr(0, amp), out, &seen)) return false;
    if (amp == std::string_view::npos) return true;
    query.remove_prefix(amp + 1);
  }
}

}  // namespace cb::proto
