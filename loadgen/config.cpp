// config.cpp: checking a LoadConfig, and parsing the list-valued options.
#include "config.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

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

namespace {

double seconds(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e9;
}

std::chrono::nanoseconds from_seconds(const char* key, double s) {
  if (!std::isfinite(s) || s < 0 || s > 1e6) fail(fmt::format("config: '{}' must be 0..1e6 seconds", key));
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(s * 1e9)));
}

// One key of a config object, with its type checked.
template <class T>
T take(const nlohmann::json& j, const char* key) {
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(fmt::format("config: '{}' has the wrong type", key));
  }
}

}  // namespace

nlohmann::json config_to_json(const LoadConfig& c) {
  nlohmann::json paths = nlohmann::json::array();
  for (const WeightedPath& p : c.paths) paths.push_back({{"path", p.path}, {"weight", p.weight}});
  return {{"host", c.host},
          {"port", c.port},
          {"proto", c.proto == Proto::kEcho ? "echo" : "http"},
          {"msg_size_bytes", c.msg_size},
          {"paths", paths},
          {"close", c.close_after_request},
          {"one_class", !c.class_per_path},
          {"source_ips", c.source_ips},
          {"threads", c.threads},
          {"connections", c.connections},
          {"pipeline", c.pipeline},
          {"load_model", c.open_loop() ? "open" : "closed"},
          {"rate_per_s", c.rate_per_s},
          {"duration_s", seconds(c.duration)},
          {"warmup_s", seconds(c.warmup)},
          {"interval_s", seconds(c.interval)},
          {"requests_limit", c.max_requests},
          {"connect_rate_per_s", c.connect_rate_per_s},
          {"connect_timeout_s", seconds(c.connect_timeout)},
          {"timeout_s", seconds(c.request_timeout)}};
}

LoadConfig config_from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail("config: want a JSON object");
  LoadConfig c;
  for (const auto& [key, value] : j.items()) {
    const char* k = key.c_str();
    if (key == "host") c.host = take<std::string>(j, k);
    else if (key == "port") {
      auto port = take<int64_t>(j, k);
      if (port < 1 || port > 65535) fail("config: 'port' must be 1..65535");
      c.port = static_cast<uint16_t>(port);
    } else if (key == "proto") {
      auto proto = take<std::string>(j, k);
      if (proto != "echo" && proto != "http") fail("config: 'proto' must be echo or http");
      c.proto = proto == "echo" ? Proto::kEcho : Proto::kHttp;
    } else if (key == "msg_size_bytes") c.msg_size = take<std::size_t>(j, k);
    else if (key == "paths") {
      if (!value.is_array()) fail("config: 'paths' must be an array");
      c.paths.clear();
      for (const nlohmann::json& p : value) {
        if (!p.is_object() || !p.contains("path")) fail("config: each path wants {\"path\", \"weight\"}");
        WeightedPath w{take<std::string>(p, "path"), p.contains("weight") ? take<uint32_t>(p, "weight") : 1u};
        c.paths.push_back(std::move(w));
      }
    } else if (key == "close") c.close_after_request = take<bool>(j, k);
    else if (key == "one_class") c.class_per_path = !take<bool>(j, k);
    else if (key == "source_ips") c.source_ips = take<std::vector<std::string>>(j, k);
    else if (key == "threads") c.threads = take<int>(j, k);
    else if (key == "connections") c.connections = take<int>(j, k);
    else if (key == "pipeline") c.pipeline = take<int>(j, k);
    else if (key == "load_model") {
      // Derived from rate_per_s; read only so a result's config reads back.
      auto model = take<std::string>(j, k);
      if (model != "open" && model != "closed") fail("config: 'load_model' must be open or closed");
    } else if (key == "rate_per_s") c.rate_per_s = take<double>(j, k);
    else if (key == "duration_s") c.duration = from_seconds(k, take<double>(j, k));
    else if (key == "warmup_s") c.warmup = from_seconds(k, take<double>(j, k));
    else if (key == "interval_s") c.interval = from_seconds(k, take<double>(j, k));
    else if (key == "requests_limit") c.max_requests = take<uint64_t>(j, k);
    else if (key == "connect_rate_per_s") c.connect_rate_per_s = take<double>(j, k);
    else if (key == "connect_timeout_s") c.connect_timeout = from_seconds(k, take<double>(j, k));
    else if (key == "timeout_s") c.request_timeout = from_seconds(k, take<double>(j, k));
    else fail(fmt::format("config: unknown key '{}'", key));
  }
  c.validate();
  return c;
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
