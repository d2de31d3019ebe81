// matrix.h: what to run. A matrix (a named profile or a JSON file) lists
// models, protocols, connection counts, message and file sizes, load
// shapes (closed loop or fixed rates), repetitions and timing; expand()
// turns it into the ordered list of cells the harness runs.
//
// Matrix file (every key optional except models; see harness/profiles/):
//   {
//     "description": "...",
//     "models": ["defaults"],            // "all", "defaults", "NAME",
//                                        // "NAME:VARIANT", "NAME:*"
//     "protos": ["echo", "http"],
//     "connections": [10, 100, "1k"],
//     "msg_sizes": [64],                 // echo request size (bytes, "1KiB")
//     "file_sizes": ["1KiB"],            // http file size (= workloads "file:SIZE")
//     "workloads": ["file:1KiB", "app:calls=1&delay_us=1000", "mix:NAME"],
//                                        // http: what is requested (workload.h);
//                                        // replaces file_sizes when given
//     "mixes": {"NAME": [{"path": "/app?cpu_us=0", "weight": 95}, ...]},
//                                        // top level only: the mixes workloads name
//     "backend_conns": 1024,             // bench_server --backend-conns (default:
//                                        // the server's own)
//     "server_memory": "128MiB",         // the server runs in a memory cgroup
//                                        // with this limit (page cache included;
//                                        // memory_cgroup.h); disk:total=Nx
//                                        // workloads are sized from it
//     "rates_per_s": [0],                // 0 = closed loop; else open loop;
//                                        // "80%": 80% of the cell's closed-loop
//                                        // throughput (list the closed loop first)
//     "server_args": [],                 // extra bench_server options
//     "max_connections": {"reactor:select": 1000},  // cells above: skipped
//     "repeat": 1, "duration": "5s", "warmup": "1s", "loadgen_threads": 0,
//     "connect_rate_per_s": 2000,        // connections opened per second
//                                        // (0: all at once); warm-up follows
//     "peers": false,                    // ./run_all.sh installs the peers'
//                                        // packages first (the profile names
//                                        // peer models: peers.h)
//     "microbench": false,               // ./run_all.sh also runs bench/
//                                        // (the micro-benchmarks) into the
//                                        // results folder
//     "extra": [ { ...more cells: the keys above except the timing ones,
//                  missing keys taken from the top level... } ]
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client_hosts.h"
#include "workload.h"

namespace cb::harness {

// One entry of `bench_server --list-models --json`.
struct ModelVariant {
  std::string name;
  std::string variant;
  bool is_default = false;
  std::string summary;
  bool supported = true;
  std::string why_unsupported;  // "why_not" in the JSON
  // How a waiting /app request is held: "connection", "worker" or "loop"
  // ("" from a server that does not say).
  std::string app_wait;
  // A reference server of servers/peers/ (peers.h), not a bench_server model.
  bool peer = false;
  // Protocol -> why this row cannot serve it here (peers: `serve --check`).
  std::map<std::string, std::string> unavailable_protos;
  std::string spec() const { return name + ":" + variant; }
};

// Parses `bench_server --list-models --json`: an array of {name, variant,
// default, summary, supported, why_not}, fields read by name. Throws
// std::invalid_argument if a required field is missing or mistyped.
std::vector<ModelVariant> parse_model_json(const std::string& text);
// The same array back, as results.json's config.registry records it.
nlohmann::ordered_json models_to_json(const std::vector<ModelVariant>& models);
// Runs `server --list-models --json`; throws std::runtime_error if it cannot.
std::vector<ModelVariant> query_models(const std::string& server_binary);

// One cell of the matrix: what a run measures.
struct Cell {
  std::string model;
  std::string variant;
  std::string proto;  // "echo" | "http"
  int connections = 0;
  std::optional<uint64_t> msg_size_bytes;   // echo
  std::optional<uint64_t> file_size_bytes;  // http, file workloads
  std::optional<Workload> workload;         // http
  std::optional<int> backend_conns;         // --backend-conns, when the matrix sets it
  std::optional<uint64_t> server_memory_bytes;  // the server's memory cgroup limit
  double rate_per_s = 0;                    // 0: closed loop
  // "80%" in rates_per_s: open loop at this share of the requests/s the
  // same cell measured closed loop earlier in the repetition; rate_per_s
  // is filled in just before the run (capacity_twin() names that cell).
  std::optional<double> rate_of_capacity;
  std::vector<std::string> server_args;

  // Whether the run needs bench_backend.
  bool needs_backend() const { return workload && workload->makes_calls(); }
  // Whether the run reads a data set from disk (dataset.h).
  bool reads_disk() const { return workload && workload->kind == Workload::Kind::kDisk; }

  bool open_loop() const { return rate_per_s > 0 || rate_of_capacity.has_value(); }
  // The closed-loop cell whose throughput a rate_of_capacity cell takes a
  // share of: this cell, closed loop.
  std::string capacity_twin() const;
  std::string load() const { return open_loop() ? "open" : "closed"; }
  // "reactor-epoll_echo_c100_m64_closed"; run ids append "_r<N>".
  std::string key() const;
  std::string run_id(int repetition) const { return key() + "_r" + std::to_string(repetition); }
  // The cell keys of results/README.md, in its order.
  nlohmann::ordered_json to_json() const;
};

struct Group {
  std::vector<std::string> models;
  std::vector<std::string> protos;
  std::vector<int> connections;
  std::vector<uint64_t> msg_sizes;
  std::vector<Workload> workloads;  // http
  std::vector<double> rates;
  std::vector<std::string> server_args;
  std::optional<int> backend_conns;
  std::optional<uint64_t> server_memory;
  std::map<std::string, int> max_connections;  // "name:variant" -> limit
};

struct Matrix {
  std::string profile;  // "quick", "full" or the file's path
  std::string description;
  Mixes mixes;
  Group base;
  std::vector<Group> extra;
  int repeat = 1;
  std::chrono::nanoseconds duration{std::chrono::seconds(5)};
  std::chrono::nanoseconds warmup{std::chrono::seconds(1)};
  int loadgen_threads = 0;  // 0: one per client CPU
  // Connections opened per second before the warm-up (0: all at once).
  // Opening 10,000 at once overflows a forking server's accept backlog
  // (somaxconn) and turns the start into connect timeouts.
  double connect_rate_per_s = 2000;
  // Whether the profile includes the micro-benchmarks of bench/: the
  // harness does not run them, it says so (results.json config.microbench,
  // --run-info) and ./run_all.sh runs them into the same folder.
  bool microbench = false;
  // The hosts the load runs on (client_hosts.h); empty: in the harness.
  std::vector<ClientHost> client_hosts;
};

// The command line's replacements; each one set replaces the matrix's
// value in every group.
struct Overrides {
  std::optional<std::vector<std::string>> models;  // filter/extend, see expand()
  std::optional<std::vector<std::string>> protos;
  std::optional<std::vector<int>> connections;
  std::optional<std::vector<uint64_t>> msg_sizes;
  std::optional<std::vector<uint64_t>> file_sizes;
  std::optional<std::vector<std::string>> workloads;  // resolved against the matrix's mixes
  std::optional<std::vector<double>> rates;
  std::optional<int> repeat;
  std::optional<std::chrono::nanoseconds> duration;
  std::optional<std::chrono::nanoseconds> warmup;
  std::optional<int> loadgen_threads;
  std::optional<double> connect_rate_per_s;
  std::optional<uint64_t> server_memory;
  std::optional<std::vector<ClientHost>> client_hosts;
};

// The smallest --server-memory: below it a server cannot even start its
// threads and buffers, and the run would measure the OOM killer.
inline constexpr uint64_t kMinServerMemory = 16ull << 20;

// Built-in profile names.
std::vector<std::string> profile_names();
// "quick", "full" or a path to a JSON file. Throws std::invalid_argument
// with a one-line reason on unknown names, unreadable files, bad JSON,
// unknown keys or bad values.
Matrix load_matrix(const std::string& profile_or_path);
Matrix parse_matrix(const nlohmann::json& j, const std::string& profile);
// Throws std::invalid_argument for a workload that does not parse.
void apply_overrides(Matrix& m, const Overrides& o);

struct Skipped {
  std::string what;  // a model spec or a cell key
  std::string reason;
};

struct Expanded {
  std::vector<Cell> cells;  // unique, in run order
  std::vector<Skipped> skipped;
};

// Resolves model tokens against the registry and multiplies out the cells.
// A command-line --models token NAME keeps the variants of NAME the matrix
// already selects (all of them in `full`), or NAME's default variant if it
// selects none; NAME:VARIANT, NAME:*, all and defaults mean what they say
// (all and defaults: the models, no peer); `peer` is every peer (peers.h).
// Unsupported variants, cells above max_connections and cells of a
// protocol a row cannot serve here are skipped (listed, not failed). Throws std::invalid_argument on unknown models or protocols.
Expanded expand(const Matrix& m, const std::vector<ModelVariant>& registry,
                const std::optional<std::vector<std::string>>& model_filter = std::nullopt);

// "10,100,1k" -> {10, 100, 1000} etc.; throw std::invalid_argument.
std::vector<std::string> split_list(const std::string& text);
std::vector<int> parse_connection_list(const std::string& text);
std::vector<uint64_t> parse_size_list(const std::string& text);
// "closed" = 0; "80%" = -0.8 (a share of the closed-loop throughput, see
// Cell::rate_of_capacity).
std::vector<double> parse_rate_list(const std::string& text);
// "app:calls=1&delay_us=10,file:1KiB": split at commas, each checked against
// the mixes of `m`; throws std::invalid_argument.
std::vector<Workload> parse_workload_list(const std::string& text, const Mixes& mixes);

}  // namespace cb::harness
