// workload.h: what an HTTP cell asks the server for. A workload is one of
//
//   "file:1KiB"                     GET /f<size>.bin from the docroot (what
//                                   "file_sizes" has always meant)
//   "app:delay_us=10000&calls=1"    GET /app?<query>: the service handler
//                                   (calls to bench_backend, CPU, a body);
//                                   names cpu_us, calls, delay_us, bytes,
//                                   each at most once, plain decimal numbers
//                                   within the server's bounds
//   "mix:NAME"                      the weighted paths of the matrix's
//                                   "mixes": {"NAME": [{"path", "weight"}]}
//
// The harness checks every workload before the first run (a typo found an
// hour into a matrix costs the hour), and knows from it whether a run needs
// the backend (some request makes calls).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cb::harness {

// One path of a mix, as loadgen's --paths takes it.
struct WeightedPath {
  std::string path;
  uint32_t weight = 1;
  bool operator==(const WeightedPath&) const = default;
};

using Mixes = std::map<std::string, std::vector<WeightedPath>>;

// The parameters of one /app request (servers/protocol/app.h): 0 = absent.
struct AppQuery {
  uint64_t cpu_us = 0, calls = 0, delay_us = 0, bytes = 0;
};

// The server's bounds (servers/protocol/app.h), checked here so a bad
// workload is a usage error, not a matrix of 400s.
inline constexpr uint64_t kMaxAppCpuUs = 1'000'000;
inline constexpr uint64_t kMaxAppCalls = 100;
inline constexpr uint64_t kMaxAppDelayUs = 10'000'000;
inline constexpr uint64_t kMaxAppBytes = 1'048'576;

struct Workload {
  enum class Kind { kFile, kApp, kMix };
  Kind kind = Kind::kFile;
  std::string spec;         // canonical text: "file:1KiB", "app:calls=1&delay_us=10", "mix:NAME"
  uint64_t file_size = 0;   // kFile
  std::string mix;          // kMix: the mix's name
  std::vector<WeightedPath> paths;  // what the load generator requests

  const char* kind_name() const;
  // Some request of this workload calls the backend.
  bool makes_calls() const;
  // A file-name-safe piece of the cell key: "f1024", "app-calls1-delay_us10", "mix-NAME".
  std::string key_part() const;
};

// Parses "name=value&..." after "/app?"; throws std::invalid_argument with a
// one-line reason (unknown or repeated name, not a number, out of bounds).
AppQuery parse_app_query(const std::string& query);

// Parses one workload; `mixes` resolves "mix:NAME". Throws
// std::invalid_argument with a one-line reason.
Workload parse_workload(const std::string& text, const Mixes& mixes);
Workload file_workload(uint64_t bytes);

// The matrix's "mixes" object; throws std::invalid_argument.
Mixes parse_mixes(const nlohmann::json& j);
nlohmann::ordered_json mixes_to_json(const Mixes& mixes);

}  // namespace cb::harness
