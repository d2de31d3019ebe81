// config.cpp: checking a LoadConfig, and parsing the list-valued options.
#include "config.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace cb::loadgen {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument(message);
}

// The address family of a numeric address, or 0 if it is not one.
int family_of(const std::string& ip) {
  unsigned char buf[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, ip.c_str(), buf) == 1) return AF_INET;
  if (::inet_pton(AF_INET6, ip.c_str(), buf) == 1) return AF_INET6;
  return 0;
}

// Pipeline slots are 16-bit indices; a deeper pipeline is no longer a
// latency measurement anyway.
constexpr int kMaxPipeline = 4096;
constexpr std::size_t kMaxMsgSize = 64u << 20;

void validate_paths(const std::vector<WeightedPath>& paths) {
  if (paths.empty()) fail("no http path to request");
  uint64_t total = 0;
  for (const WeightedPath& p : paths) {
    if (p.path.empty() || p.path[0] != '/') {
      fail(fmt::format("path '{}' must start with '/'", p.path));
    }
    if (p.path.find_first_of(" \t\r\n") != std::string::npos) {
      fail(fmt::format("path '{}' contains white space", p.path));
    }
    if (p.weight == 0) fail(fmt::format("path '{}' has weight 0", p.path));
    total += p.weight;
  }
  if (total > UINT32_MAX) fail("path weights add up to more than 2^32");
}

}  // namespace

void LoadConfig::validate() const {
  int family = family_of(host);
  if (family == 0) fail(fmt::format("host '{}' is not a numeric IPv4 or IPv6 address", host));
  if (port == 0) fail("port must be 1..65535");
  if (threads < 1 || threads > 1024) fail("threads must be 1..1024");
  if (connections < 1 || connections > 1'000'000) fail("connections must be 1..1000000");
  if (pipeline < 1 || pipeline > kMaxPipeline) {
    fail(fmt::format("pipeline must be 1..{}", kMaxPipeline));
  }
  if (!std::isfinite(rate_per_s) || rate_per_s < 0) fail("rate must be a number >= 0");
  if (!std::isfinite(connect_rate_per_s) || connect_rate_per_s < 0) {
    fail("connect rate must be a number >= 0");
  }
  if (duration.count() <= 0 && max_requests == 0) fail("give a duration > 0 or a request count");
  if (duration.count() < 0 || warmup.count() < 0) fail("durations must not be negative");
  if (interval.count() < 0) fail("interval must not be negative");
  if (interval.count() > 0 && interval < std::chrono::milliseconds(10)) fail("interval must be at least 10ms (or 0)");
  if (connect_timeout.count() <= 0) fail("connect timeout must be > 0");
  if (request_timeout.count() < 0) fail("timeout must be >= 0");
  if (proto == Proto::kEcho) {
    if (msg_size < 1 || msg_size > kMaxMsgSize) fail("msg-size must be 1B..64MiB");
    if (close_after_request) fail("--close applies to --proto http only");
  } else {
    validate_paths(paths);
    if (close_after_request && pipeline > 1) {
      fail("--close sends one request per connection: pipeline must be 1");
    }
  }
  for (const std::string& ip : source_ips) {
    int f = family_of(ip);
    if (f == 0) fail(fmt::format("source address '{}' is not a numeric IP address", ip));
    if (f != family) {
      fail(fmt::format("source address '{}' is not in the family of host '{}'", ip, host));
    }
  }
}

std::vector<std::string> parse_source_ips(const std::string& text) {
  std::vector<std::string> out;
  std::size_t dash = text.find('-');
  if (dash == std::string::npos) {
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
      if (family_of(item) == 0) fail(fmt::format("invalid source address '{}'", item));
      out.push_back(item);
    }
    if (out.empty()) fail("empty source address list");
    return out;
  }
  std::string first = text.substr(0, dash), last = text.substr(dash + 1);
  in_addr a{}, b{};
  if (::inet_pton(AF_INET, first.c_str(), &a) != 1 || ::inet_pton(AF_INET, last.c_str(), &b) != 1) {
    fail(fmt::format("invalid source range '{}' (want IPv4 A.B.C.D-A.B.C.D)", text));
  }
  uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
  if (lo > hi || hi - lo >= 65536) fail(fmt::format("invalid source range '{}'", text));
  for (uint64_t v = lo; v <= hi; ++v) {
    in_addr addr{htonl(static_cast<uint32_t>(v))};
    char buf[INET_ADDRSTRLEN];
    out.emplace_back(::inet_ntop(AF_INET, &addr, buf, sizeof buf));
  }
  return out;
}

std::vector<WeightedPath> parse_paths(const std::string& text) {
  std::vector<WeightedPath> out;
  std::stringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::stringstream fields(line);
    WeightedPath p;
    if (!(fields >> p.path) || p.path[0] == '#') continue;
    long long weight = 1;
    std::string extra;
    if (fields >> weight) {
      if (weight < 1 || weight > UINT32_MAX || (fields >> extra)) {
        fail(fmt::format("paths line {}: want 'PATH [WEIGHT]' with WEIGHT >= 1", number));
      }
    } else if (!fields.eof()) {
      fail(fmt::format("paths line {}: weight is not a number", number));
    }
    p.weight = static_cast<uint32_t>(weight);
    out.push_back(std::move(p));
  }
  if (out.empty()) fail("paths file lists no path");
  validate_paths(out);
  return out;
}

}  // namespace cb::loadgen
