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
//   "disk:total=4x&size=16KiB&zipf=0.8"
//                                   GET the files of a data set on disk
//                                   (dataset.h) with Zipf popularity; the
//                                   set is files=N or total=SIZE or
//                                   total=RATIOx (times the server's memory
//                                   limit), size=SIZE or size=specweb,
//                                   zipf=ALPHA (default 0.8, 0 = uniform)
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

// What a "disk:QUERY" workload asks for. Exactly one of files,
// total_bytes and total_ratio is set.
struct DatasetSpec {
  uint64_t files = 0;        // files=N
  uint64_t total_bytes = 0;  // total=SIZE
  double total_ratio = 0;    // total=4x: times the server's memory limit
  uint64_t file_size = 0;    // size=SIZE (0: specweb)
  bool specweb = false;      // size=specweb
  double zipf_alpha = 0.8;   // zipf=A, 0..3

  bool needs_memory_limit() const { return total_ratio > 0; }
  // "total=4x&size=16KiB&zipf=0.8": the workload's canonical text.
  std::string canonical() const;
};

inline constexpr uint64_t kMaxDatasetFiles = 4'000'000;
inline constexpr double kMaxZipfAlpha = 3.0;

struct Workload {
  enum class Kind { kFile, kApp, kMix, kDisk };
  Kind kind = Kind::kFile;
  std::string spec;         // canonical text: "file:1KiB", "app:calls=1&delay_us=10", "mix:NAME"
  uint64_t file_size = 0;   // kFile
  std::string mix;          // kMix: the mix's name
  std::vector<WeightedPath> paths;  // what the load generator requests (kDisk: none
                                    // until the data set is made, dataset.h)
  DatasetSpec disk;                 // kDisk

  const char* kind_name() const;
  // Some request of this workload calls the backend.
  bool makes_calls() const;
  // A file-name-safe piece of the cell key: "f1024", "app-calls1-delay_us10", "mix-NAME".
  std::string key_part() const;
};

// Parses the query after "disk:"; names files, total, size, zipf, each at
// most once. Throws std::invalid_argument with a one-line reason.
DatasetSpec parse_dataset_spec(const std::string& query);

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
