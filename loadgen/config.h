// config.h: everything one load run needs to know, filled by the CLI
// (cli.cpp) or directly by the harness, and checked once by validate().
#pragma once

#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cb::loadgen {

enum class Proto { kEcho, kHttp };

struct WeightedPath {
  std::string path;
  uint32_t weight = 1;
};

struct LoadConfig {
  // Target.
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  Proto proto = Proto::kEcho;
  std::size_t msg_size = 64;                  // echo: bytes per request
  std::vector<WeightedPath> paths{{"/", 1}};  // http: GET one of these
  bool close_after_request = false;           // http: Connection: close
  // http: one latency class per path (results.classes). False puts every
  // path in one class: a data set of thousands of files, where a histogram
  // per path would cost gigabytes.
  bool class_per_path = true;
  // Source addresses to bind before connect (IP_BIND_ADDRESS_NO_PORT);
  // connection i uses source_ips[i % size]. Empty: the kernel chooses.
  std::vector<std::string> source_ips;

  // Load shape.
  int threads = 1;
  int connections = 10;
  int pipeline = 1;       // requests in flight per connection
  double rate_per_s = 0;  // total over all threads; 0 = closed loop
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};
  std::chrono::nanoseconds warmup{0};  // load runs, nothing is recorded
  uint64_t max_requests = 0;           // 0 = run for `duration`
  // The time series' interval (timeseries.h); 0 = no time series.
  std::chrono::nanoseconds interval{std::chrono::milliseconds(250)};
  double connect_rate_per_s = 0;       // 0 = open every connection at once
  std::chrono::nanoseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::nanoseconds request_timeout{std::chrono::seconds(10)};  // 0 = none
  // Stop early when no connection can be established at all (every first
  // attempt failed): a wrong port should not cost the whole duration.
  bool give_up_if_unreachable = true;

  bool open_loop() const { return rate_per_s > 0; }
  // Throws std::invalid_argument with a one-line reason.
  void validate() const;
};

// The configuration as JSON: the "config" object of the result (README.md),
// and the same object read back, so `loadgen --agent` takes its whole
// configuration in the schema it reports (one schema, one parser). Reading
// starts from the defaults above, rejects unknown keys and wrong types, and
// validates (std::invalid_argument with a one-line reason).
nlohmann::json config_to_json(const LoadConfig& c);
LoadConfig config_from_json(const nlohmann::json& j);

// "127.0.0.2-127.0.0.9" (an IPv4 range, at most 65536 addresses) or a comma
// list "127.0.0.2,127.0.0.3,::1". Throws std::invalid_argument.
std::vector<std::string> parse_source_ips(const std::string& text);

// A --paths file: one "PATH [WEIGHT]" per line; blank lines and lines
// starting with '#' are skipped. Throws std::invalid_argument.
std::vector<WeightedPath> parse_paths(const std::string& text);

}  // namespace cb::loadgen
