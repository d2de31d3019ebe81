// main.cpp: harness, the matrix runner.
//
//   harness --profile quick                       (what ./run_all.sh runs)
//   harness --profile full --models reactor,fiber --connections 100,1k
//   harness --profile my_matrix.json --out /tmp/results --repeat 3
//
// Reads the matrix, checks everything it can before the first run (bad
// input: one line on stderr, exit 2), calibrates the machine, then runs
// every cell `repeat` times (repetition-major, so slow drift spreads over
// all cells), rewriting results/<stamp>/results.json after each run. The
// last line on stdout is the results folder; everything else goes to
// stderr. Scripts should not scrape that: --run-info FILE gets the folder
// and the profile's own say on the micro-benchmarks as key=value lines. Exit status: 0 when every run succeeded, 1 when some failed,
// 130 when interrupted (the JSON of the finished runs is kept).
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <optional>
#include <map>
#include <set>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/shutdown.h"
#include "common/status.h"
#include "common/units.h"
#include "confidence.h"
#include "context.h"
#include "dataset.h"
#include "matrix.h"
#include "memory_cgroup.h"
#include "peers.h"
#include "progress.h"
#include "results.h"
#include "runner.h"
#include "server_control.h"
#include "workspace.h"

#ifndef CB_BENCH_SERVER
#define CB_BENCH_SERVER "bench_server"
#endif
#ifndef CB_LOADGEN
#define CB_LOADGEN "loadgen"
#endif
#ifndef CB_BENCH_BACKEND
#define CB_BENCH_BACKEND "bench_backend"
#endif
#ifndef CB_PEERS_DIR
#define CB_PEERS_DIR "servers/peers"
#endif
#ifndef CB_PEERS_BIN_DIR
#define CB_PEERS_BIN_DIR ""
#endif

namespace cb::harness {
namespace {

// Usage errors: main prints the message in one line and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string profile = "quick";
  std::string models, protos, connections, msg_sizes, file_sizes, workloads, rates;
  int repeat = 0;
  double target_ci = 0;  // % of the mean; 0 = off
  int max_repeat = 10;
  std::string duration, warmup;
  std::string server_cpus = "0";
  std::string client_cpus = "1";
  int loadgen_threads = 0;
  std::string connect_rate;
  std::string out = "results";
  std::string server = CB_BENCH_SERVER;
  std::string backend = CB_BENCH_BACKEND;
  std::string peers_dir = CB_PEERS_DIR;
  std::string peers_bin_dir = CB_PEERS_BIN_DIR;
  std::string backend_cpus;  // empty: the client CPUs
  std::string stop_grace = "5s";
  std::string run_info;
  std::string server_memory;
  std::string cgroup_parent;
  std::string dataset_dir = "/var/tmp/conc-bench-datasets";
  std::string client_hosts;
  std::string client_transport = kDefaultTransport;
  std::string agent_binary = CB_LOADGEN;
  std::string listen = "127.0.0.1";
  bool no_calibrate = false;
  bool dry_run = false;
};

void add_options(CLI::App& app, Options& o) {
  app.add_option("--profile", o.profile, "quick, full or a matrix JSON file (harness/profiles/)")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--models", o.models,
                 "models to run: NAME (the profile's variants of it), NAME:VARIANT, NAME:*, all, defaults");
  app.add_option("--protos", o.protos, "protocols: echo,http");
  app.add_option("--connections", o.connections, "connection counts, e.g. 10,100,1k");
  app.add_option("--msg-size", o.msg_sizes, "echo message sizes, e.g. 64,1KiB");
  app.add_option("--file-size", o.file_sizes, "http file sizes, e.g. 1KiB,1MiB");
  app.add_option("--workloads", o.workloads,
                 "http workloads: file:SIZE, app:QUERY (cpu_us, calls, delay_us, bytes), mix:NAME "
                 "(the profile's mixes), e.g. 'app:calls=1&delay_us=1000,file:1KiB'");
  app.add_option("--rate", o.rates, "load: 'closed', open-loop rates in requests/s, or N% of the cell's closed-loop "
                 "requests/s, e.g. closed,10k,80%");
  app.add_option("--repeat", o.repeat, "repetitions per cell (default: the profile's)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--target-ci", o.target_ci,
                 "repeat each cell until the half-width of its throughput's 95% interval is under PCT% of "
                 "its mean (or --max-repeat); one run's interval comes from its time series")
      ->type_name("PCT")
      ->check(CLI::Range(0.01, 100.0));
  app.add_option("--max-repeat", o.max_repeat, "at most this many repetitions per cell with --target-ci")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--duration", o.duration, "measured window per run, e.g. 10s (default: the profile's)");
  app.add_option("--warmup", o.warmup, "warm-up before the window, e.g. 2s (default: the profile's)");
  app.add_option("--server-cpus", o.server_cpus, "CPUs the server is pinned to, e.g. 0 or 0-1")
      ->capture_default_str();
  app.add_option("--client-cpus", o.client_cpus, "CPUs the load generator is pinned to")
      ->capture_default_str();
  app.add_option("--loadgen-threads", o.loadgen_threads, "load threads (default: one per client CPU)")
      ->check(CLI::Range(1, 256));
  app.add_option("--connect-rate", o.connect_rate,
                 "connections opened per second before the warm-up, 0 = all at once (default: the profile's)");
  app.add_option("--out", o.out, "results root: writes OUT/<UTC stamp>/ and OUT/latest")
      ->capture_default_str();
  app.add_option("--server", o.server, "the bench_server binary")->capture_default_str();
  app.add_option("--backend", o.backend, "the bench_backend binary (workloads that make backend calls)")
      ->capture_default_str();
  app.add_option("--peers-dir", o.peers_dir,
                 "the reference servers (peer:NAME models): peers.json and NAME/serve")
      ->capture_default_str();
  app.add_option("--peers-bin-dir", o.peers_bin_dir, "where the compiled peers were built (their serve --bin-dir)")
      ->capture_default_str();
  app.add_option("--backend-cpus", o.backend_cpus, "CPUs bench_backend is pinned to (default: the client CPUs)");
  app.add_option("--stop-grace", o.stop_grace, "time between SIGTERM and SIGKILL")->capture_default_str();
  app.add_option("--run-info", o.run_info,
                 "write results_dir=DIR and microbench=true|false (the profile's) to this file "
                 "once the results folder exists, for scripts");
  app.add_option("--server-memory", o.server_memory,
                 "run each server in a memory cgroup with this limit (page cache included), e.g. 128MiB");
  app.add_option("--cgroup-parent", o.cgroup_parent,
                 "memory limits: make the servers' cgroups in this cgroup folder (default: the harness's own; "
                 "on cgroup v2, a delegated one)");
  app.add_option("--dataset-dir", o.dataset_dir,
                 "where disk workloads keep their data sets (on a disk, not tmpfs; reused across runs)")
      ->capture_default_str();
  app.add_option("--client-hosts", o.client_hosts,
                 "drive the load from these hosts' loadgen agents instead of this process: "
                 "[user@]host[=SOURCE_IPS],... (SOURCE_IPS: A-B or a+b; the matrix's client_hosts by default)")
      ->type_name("HOSTS");
  app.add_option("--client-transport", o.client_transport,
                 "how to run a command on a client host: a shell command prefix, {host} replaced by the host "
                 "(appended when absent)")
      ->capture_default_str();
  app.add_option("--agent-binary", o.agent_binary, "the loadgen binary's path on the client hosts")
      ->capture_default_str();
  app.add_option("--listen", o.listen,
                 "the IPv4 address the server listens on, and the load targets (a client host must reach it)")
      ->capture_default_str();
  app.add_flag("--no-calibrate", o.no_calibrate, "skip the machine calibration (its figures are null)");
  app.add_flag("--dry-run", o.dry_run, "print the runs the matrix expands to, and exit");
}

template <class F>
auto usage_checked(const char* what, F f) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("{}: {}", what, e.what()));
  }
}

Overrides overrides_from(const Options& o) {
  Overrides ov;
  if (!o.models.empty()) ov.models = usage_checked("--models", [&] { return split_list(o.models); });
  if (!o.protos.empty()) ov.protos = usage_checked("--protos", [&] { return split_list(o.protos); });
  if (!o.connections.empty()) {
    ov.connections = usage_checked("--connections", [&] { return parse_connection_list(o.connections); });
  }
  if (!o.msg_sizes.empty()) ov.msg_sizes = usage_checked("--msg-size", [&] { return parse_size_list(o.msg_sizes); });
  if (!o.file_sizes.empty()) ov.file_sizes = usage_checked("--file-size", [&] { return parse_size_list(o.file_sizes); });
  if (!o.workloads.empty()) ov.workloads = usage_checked("--workloads", [&] { return split_list(o.workloads); });
  if (!o.rates.empty()) ov.rates = usage_checked("--rate", [&] { return parse_rate_list(o.rates); });
  if (o.repeat > 0) ov.repeat = o.repeat;
  if (!o.duration.empty()) ov.duration = usage_checked("--duration", [&] { return units::parse_duration(o.duration); });
  if (!o.warmup.empty()) ov.warmup = usage_checked("--warmup", [&] { return units::parse_duration(o.warmup); });
  if (o.loadgen_threads > 0) ov.loadgen_threads = o.loadgen_threads;
  if (!o.server_memory.empty()) {
    ov.server_memory = usage_checked("--server-memory", [&] {
      uint64_t bytes = units::parse_size(o.server_memory);
      if (bytes < kMinServerMemory) {
        throw std::invalid_argument(fmt::format("must be at least {}", units::format_size(kMinServerMemory)));
      }
      return bytes;
    });
  }
  if (!o.client_hosts.empty()) {
    ov.client_hosts = usage_checked("--client-hosts", [&] { return parse_client_hosts(o.client_hosts); });
  }
  if (!o.connect_rate.empty()) {
    ov.connect_rate_per_s = usage_checked("--connect-rate", [&] { return parse_rate_list(o.connect_rate).at(0); });
  }
  return ov;
}

std::vector<int> checked_cpus(const char* option, const std::string& text) {
  std::vector<int> cpus = usage_checked(option, [&] { return parse_cpu_list(text); });
  std::vector<int> allowed = allowed_cpus();
  for (int c : cpus) {
    if (std::find(allowed.begin(), allowed.end(), c) == allowed.end()) {
      throw UsageError(fmt::format("{}: CPU {} is not available (usable: {})", option, c,
                                   fmt::join(allowed, ",")));
    }
  }
  return cpus;
}

// Raises the open-file limit to its hard limit (the load generator holds a
// descriptor per connection in this process) and checks it suffices.
void ensure_fd_limit(const std::vector<Cell>& cells) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  ::getrlimit(RLIMIT_NOFILE, &rl);
  constexpr rlim_t kHeadroom = 100;  // listeners, /proc files, pipes, the results
  for (const Cell& c : cells) {
    if (static_cast<rlim_t>(c.connections) + kHeadroom > rl.rlim_cur) {
      throw UsageError(fmt::format("{} connections need more than the open-file limit {} (ulimit -n)",
                                   c.connections, rl.rlim_cur));
    }
  }
}

std::string cell_label(const Cell& c, int rep) {
  std::string size = c.msg_size_bytes ? fmt::format("m{}", *c.msg_size_bytes)
                                      : c.workload ? c.workload->spec : "";
  std::string load = !c.open_loop()          ? "closed"
                     : c.rate_per_s > 0        ? fmt::format("open {}/s", human_count(c.rate_per_s))
                                               : fmt::format("open {:.0f}%", c.rate_of_capacity.value_or(0) * 100);
  if (c.rate_of_capacity && c.rate_per_s > 0) load += fmt::format(" ({:.0f}%)", *c.rate_of_capacity * 100);
  return fmt::format("{}:{} {} c{} {} {} r{}", c.model, c.variant, c.proto, c.connections, size, load, rep);
}

nlohmann::ordered_json config_json(const Matrix& m, const Expanded& e, int loadgen_threads,
                                   const std::vector<ModelVariant>& registry) {
  nlohmann::ordered_json j;
  j["profile"] = m.profile;
  j["description"] = m.description;
  j["microbench"] = m.microbench;
  j["duration_s"] = std::chrono::duration<double>(m.duration).count();
  j["warmup_s"] = std::chrono::duration<double>(m.warmup).count();
  j["repeat"] = m.repeat;
  j["loadgen_threads"] = loadgen_threads;
  j["connect_rate_per_s"] = m.connect_rate_per_s;
  j["client_hosts"] = nlohmann::ordered_json::array();
  for (const ClientHost& h : m.client_hosts) j["client_hosts"].push_back(h.spec);
  j["mixes"] = mixes_to_json(m.mixes);
  j["cells"] = nlohmann::ordered_json::array();
  for (const Cell& c : e.cells) j["cells"].push_back(c.to_json());
  j["skipped"] = nlohmann::ordered_json::array();
  for (const Skipped& s : e.skipped) j["skipped"].push_back({{"what", s.what}, {"reason", s.reason}});
  // The whole registry, so readers (plots/) take model names and their
  // order from the server that ran instead of a list of their own.
  j["registry"] = models_to_json(registry);
  return j;
}

std::vector<uint64_t> file_sizes_of(const std::vector<Cell>& cells) {
  std::set<uint64_t> sizes = {kProbeFileBytes};  // every HTTP start is probed with it
  for (const Cell& c : cells) {
    if (c.file_size_bytes) sizes.insert(*c.file_size_bytes);
  }
  return {sizes.begin(), sizes.end()};
}

// --run-info: what a script needs to go on, as key=value lines it can read
// with sed. The folder is absolute, so the script's directory does not matter.
void write_run_info(const std::string& path, const std::string& dir, const Matrix& m) {
  char* real = ::realpath(dir.c_str(), nullptr);
  std::string absolute = real != nullptr ? real : dir;
  std::free(real);
  write_file_atomic(path, fmt::format("results_dir={}\nmicrobench={}\n", absolute,
                                      m.microbench ? "true" : "false"));
}

// A --run-info file that cannot be written is a usage error found before the
// first run, not an hour later.
void check_writable_parent(const char* option, const std::string& path) {
  std::size_t slash = path.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::access(parent.c_str(), W_OK) != 0) {
    throw UsageError(fmt::format("{}: cannot write into '{}'", option, parent));
  }
}

// Cells with a memory limit need a memory cgroup: where none can be made,
// they are skipped with the reason (not failed).
void skip_without_cgroups(Expanded& e, const std::string& parent) {
  bool wanted = std::any_of(e.cells.begin(), e.cells.end(), [](const Cell& c) { return c.server_memory_bytes; });
  if (!wanted) return;
  std::optional<std::string> why = MemoryCgroup::unavailable(parent);
  if (!why) return;
  std::vector<Cell> kept;
  for (Cell& c : e.cells) {
    if (c.server_memory_bytes) e.skipped.push_back({c.key(), "no memory limit possible here: " + *why});
    else kept.push_back(std::move(c));
  }
  e.cells = std::move(kept);
}

// Makes (or finds) every data set before the first run: a full disk is
// found now, and no run's time includes writing its files.
void prepare_datasets(const std::vector<Cell>& cells, const std::string& base, Progress& progress) {
  std::set<std::string> done;
  for (const Cell& c : cells) {
    if (!c.reads_disk()) continue;
    const DatasetSpec& d = c.workload->disk;
    std::vector<uint32_t> sizes = dataset_sizes(d, c.server_memory_bytes);
    std::string key = fmt::format("{}-{}-{}", sizes.size(), d.specweb, d.file_size);
    if (!done.insert(key).second) continue;
    auto t0 = std::chrono::steady_clock::now();
    bool created = false;
    std::optional<Dataset> made;
    try {
      made = Dataset::prepare(sizes, d.specweb, base, &created);
    } catch (const std::runtime_error& e) {
      // Each run of the cell will fail with the same reason; the rest go on.
      progress.message(fmt::format("  {}", e.what()));
      continue;
    }
    const Dataset& set = *made;
    progress.message(fmt::format("  data set {}: {} files, {} ({}{:.1f} s)", set.dir(), set.files(),
                                 units::format_size(set.bytes()), created ? "written in " : "found, checked in ",
                                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
  }
}

struct Plan {
  std::vector<ModelVariant> registry;
  std::vector<Peer> peers;  // loaded and checked when the matrix names a peer
  Matrix matrix;
  Expanded expanded;
  std::vector<int> server_cpus, client_cpus, backend_cpus;
  RunSettings settings;
};

Plan make_plan(const Options& o) {
  Plan p;
  if (::access(o.server.c_str(), X_OK) != 0) {
    throw UsageError(fmt::format("--server: '{}' is not an executable (build it, or pass --server)", o.server));
  }
  try {
    p.registry = query_models(o.server);
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  if (!o.run_info.empty()) check_writable_parent("--run-info", o.run_info);
  Overrides ov = overrides_from(o);
  p.matrix = usage_checked("--profile", [&] { return load_matrix(o.profile); });
  usage_checked("--workloads", [&] { apply_overrides(p.matrix, ov); });
  bool peers = (ov.models && names_a_peer(*ov.models)) || names_a_peer(p.matrix.base.models);
  for (const Group& g : p.matrix.extra) peers = peers || names_a_peer(g.models);
  if (peers) {
    p.peers = usage_checked("--peers-dir", [&] { return load_peers(o.peers_dir); });
    check_peers(p.peers);
    for (ModelVariant& m : peer_models(p.peers)) p.registry.push_back(std::move(m));
  }
  p.expanded = usage_checked("matrix", [&] { return expand(p.matrix, p.registry, ov.models); });
  skip_without_cgroups(p.expanded, o.cgroup_parent);
  if (p.expanded.cells.empty()) {
    std::string why;
    if (!p.expanded.skipped.empty()) {
      const Skipped& first = p.expanded.skipped.front();
      why = fmt::format(" ({} skipped, e.g. {}: {})", p.expanded.skipped.size(), first.what, first.reason);
    }
    throw UsageError("the matrix selects no runnable cell" + why);
  }
  p.server_cpus = checked_cpus("--server-cpus", o.server_cpus);
  std::string client = o.client_cpus;
  if (client == "1" && allowed_cpus().size() < 2) client = std::to_string(p.server_cpus.front());
  p.client_cpus = checked_cpus("--client-cpus", client);
  p.backend_cpus = o.backend_cpus.empty() ? p.client_cpus : checked_cpus("--backend-cpus", o.backend_cpus);
  bool calls = std::any_of(p.expanded.cells.begin(), p.expanded.cells.end(),
                           [](const Cell& c) { return c.needs_backend(); });
  if (calls && ::access(o.backend.c_str(), X_OK) != 0) {
    throw UsageError(fmt::format("--backend: '{}' is not an executable (build bench_backend, or pass --backend)",
                                 o.backend));
  }
  ensure_fd_limit(p.expanded.cells);
  RunSettings& s = p.settings;
  s.server_binary = o.server;
  s.peers_dir = o.peers_dir;
  s.peers_bin_dir = o.peers_bin_dir;
  s.backend_binary = o.backend;
  s.backend_cpus = p.backend_cpus;
  s.server_cpus = p.server_cpus;
  s.client_cpus = p.client_cpus;
  s.loadgen_threads = p.matrix.loadgen_threads > 0 ? p.matrix.loadgen_threads
                                                     : static_cast<int>(p.client_cpus.size());
  s.duration = p.matrix.duration;
  s.connect_rate_per_s = p.matrix.connect_rate_per_s;
  s.warmup = p.matrix.warmup;
  s.stop_grace = std::chrono::duration_cast<std::chrono::milliseconds>(
      usage_checked("--stop-grace", [&] { return units::parse_duration(o.stop_grace); }));
  in_addr listen{};
  if (::inet_pton(AF_INET, o.listen.c_str(), &listen) != 1) {
    throw UsageError(fmt::format("--listen: '{}' is not a numeric IPv4 address", o.listen));
  }
  s.listen = o.listen;
  if (!p.matrix.client_hosts.empty()) {
    usage_checked("--client-transport", [&] { check_transport(o.client_transport, o.agent_binary); });
    s.remote = RemoteSettings{.hosts = p.matrix.client_hosts, .transport = o.client_transport,
                              .agent_binary = o.agent_binary};
  }
  return p;
}

int run_matrix(const Plan& plan, const Options& o, const std::string& command) {
  std::time_t started = std::time(nullptr);
  std::string date = utc_iso8601(started);
  std::string stamp = utc_stamp(started);
  if (!become_subreaper()) std::fprintf(stderr, "harness: cannot become a child subreaper; continuing\n");
  install_signal_handlers();
  Calibration calibration;
  if (!o.no_calibrate) calibration = calibrate(plan.server_cpus, plan.client_cpus);
  bool disk = std::any_of(plan.expanded.cells.begin(), plan.expanded.cells.end(),
                          [](const Cell& c) { return c.reads_disk(); });
  if (!o.no_calibrate && disk) {
    DiskLatency d = measure_disk_read_latency(o.dataset_dir);
    calibration.disk_random_read_4k_us = d.median_us;
    calibration.disk_random_read_4k_p90_us = d.p90_us;
  }
  // From here on this thread, the monitor and the load threads stay on the
  // client CPUs.
  if (!pin_current_thread(plan.client_cpus)) throw SysError("sched_setaffinity(client CPUs)", errno);

  // Both named after this process, so a test can tell its servers apart.
  std::string prefix = fmt::format("cb-harness-{}-", ::getpid());
  TempDir scratch(prefix);
  TempDir counters_dir(prefix, counters_base_dir());
  RunSettings settings = plan.settings;
  settings.scratch_dir = counters_dir.path();
  settings.docroot = scratch.path() + "/docroot";
  settings.state_dir = scratch.path();
  // Peers' workers may run as another user (nginx's and Apache's drop root):
  // they must reach the docroot (its files are readable by all).
  ::chmod(scratch.path().c_str(), 0711);
  make_docroot(settings.docroot, file_sizes_of(plan.expanded.cells));
  settings.dataset_dir = o.dataset_dir;
  settings.cgroup_parent = o.cgroup_parent;

  ResultsWriter writer(o.out, stamp);
  writer.set_context(
      make_context({date, plan.server_cpus, plan.client_cpus, command, calibration, plan.backend_cpus}));
  nlohmann::ordered_json config = config_json(plan.matrix, plan.expanded, settings.loadgen_threads, plan.registry);
  config["peers_dir"] = plan.peers.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(o.peers_dir);
  config["peers"] = peers_to_json(plan.peers);
  config["listen"] = settings.listen;
  config["client_transport"] = settings.remote ? nlohmann::ordered_json(settings.remote->transport)
                                               : nlohmann::ordered_json(nullptr);
  config["agent_binary"] = settings.remote ? nlohmann::ordered_json(settings.remote->agent_binary)
                                           : nlohmann::ordered_json(nullptr);
  config["target_ci_pct"] = o.target_ci > 0 ? nlohmann::ordered_json(o.target_ci) : nlohmann::ordered_json(nullptr);
  config["max_repeat"] = o.target_ci > 0 ? nlohmann::ordered_json(std::max(o.max_repeat, plan.matrix.repeat))
                                         : nlohmann::ordered_json(nullptr);
  writer.set_config(std::move(config));
  writer.set_cells(plan.expanded.cells);
  writer.flush();
  if (!o.run_info.empty()) write_run_info(o.run_info, writer.dir(), plan.matrix);

  const auto& cells = plan.expanded.cells;
  int total = static_cast<int>(cells.size()) * plan.matrix.repeat;
  double guess = std::chrono::duration<double>(settings.duration + settings.warmup).count() + 1.5;
  Progress progress(total, guess, Progress::live_by_default());
  progress.message(fmt::format("harness: {} runs ({} cells x {}), results in {}", total, cells.size(),
                               plan.matrix.repeat, writer.dir()));
  for (const Skipped& s : plan.expanded.skipped) progress.message(fmt::format("  skipped {}: {}", s.what, s.reason));
  prepare_datasets(cells, settings.dataset_dir, progress);
  int index = 0, failed = 0;
  // Closed-loop requests/s by "<cell key>#<repetition>", for "N%" rates.
  std::map<std::string, double> capacity;
  // One run of a planned cell (its "N%" rate resolved from its twin).
  auto run_one = [&](const Cell& planned, int rep) {
    auto t0 = std::chrono::steady_clock::now();
    Cell cell = planned;
    std::optional<std::string> unresolved;
    if (cell.rate_of_capacity) {
      auto it = capacity.find(fmt::format("{}#{}", cell.capacity_twin(), rep));
      if (it != capacity.end()) cell.rate_per_s = *cell.rate_of_capacity * it->second;
      else unresolved = fmt::format("rate: no successful closed-loop run of {} in repetition {} to take {:.0f}% of",
                                    cell.capacity_twin(), rep, *cell.rate_of_capacity * 100);
    }
    progress.start_run(index, cell_label(cell, rep));
    RunOutput out;
    if (unresolved) {
      out.record.cell = cell;
      out.record.repetition = rep;
      out.record.fail(*unresolved);
    } else {
      out = run_cell(cell, rep, settings, progress);
    }
    if (out.record.ok && !cell.open_loop() && out.record.requests_per_s) {
      capacity[fmt::format("{}#{}", cell.key(), rep)] = *out.record.requests_per_s;
    }
    if (stop_requested()) out.record.fail("interrupted");
    if (!out.hgrm.empty()) out.record.hgrm_file = writer.write_hgrm(out.record.id(), out.hgrm);
    if (cell.model == kPeerModel) {
      out.record.peer_config_files.emplace();
      for (const auto& [name, text] : out.peer_configs) {
        out.record.peer_config_files->push_back(writer.write_peer_config(out.record.id(), name, text));
      }
    }
    if (!out.agents_json.empty()) {
      out.record.agents_file = writer.write_run_file(out.record.id() + ".agents.json", out.agents_json);
    }
    failed += out.record.ok ? 0 : 1;
    progress.finish_run(out.record, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    writer.add_run(std::move(out.record));
    ++index;
  };
  for (int rep = 0; rep < plan.matrix.repeat && !stop_requested(); ++rep) {
    for (const Cell& planned : cells) {
      if (stop_requested()) break;
      run_one(planned, rep);
    }
  }
  // --target-ci: more repetitions, round by round, of every cell whose
  // throughput interval is still wider than asked (confidence.h), up to
  // --max-repeat. Cells whose rate is a share of another's are left alone.
  if (o.target_ci > 0) {
    int max_repeat = std::max(o.max_repeat, plan.matrix.repeat);
    for (int rep = plan.matrix.repeat; rep < max_repeat && !stop_requested(); ++rep) {
      std::vector<const Cell*> wide;
      for (const Cell& c : cells) {
        if (c.rate_of_capacity) continue;
        std::vector<const RunRecord*> runs;
        for (const RunRecord& r : writer.runs()) {
          if (r.cell.key() == c.key()) runs.push_back(&r);
        }
        std::optional<MeanCi> ci = throughput_ci(runs);
        if (!ci || ci->relative() * 100 > o.target_ci) wide.push_back(&c);
      }
      if (wide.empty()) break;
      total += static_cast<int>(wide.size());
      progress.add_runs(static_cast<int>(wide.size()));
      progress.message(fmt::format("harness: --target-ci {}%: repetition {} of {} cell(s)", o.target_ci, rep + 1,
                                   wide.size()));
      for (const Cell* c : wide) {
        if (stop_requested()) break;
        run_one(*c, rep);
      }
    }
  }
  std::fprintf(stderr, "harness: %d of %d runs ok; results: %s/results.json\n", index - failed, total,
               writer.dir().c_str());
  std::printf("%s\n", writer.dir().c_str());
  if (stop_requested()) return 130;
  return failed == 0 ? 0 : 1;
}

void print_dry_run(const Plan& plan) {
  for (int rep = 0; rep < plan.matrix.repeat; ++rep) {
    for (const Cell& c : plan.expanded.cells) std::printf("%s\n", c.run_id(rep).c_str());
  }
  for (const Skipped& s : plan.expanded.skipped) {
    std::fprintf(stderr, "skipped %s: %s\n", s.what.c_str(), s.reason.c_str());
  }
}

}  // namespace
}  // namespace cb::harness

int main(int argc, char** argv) {
  using namespace cb::harness;
  CLI::App app{"harness: runs the benchmark matrix and writes results/<stamp>/results.json"};
  Options options;
  add_options(app, options);
  Plan plan;
  try {
    app.parse(argc, argv);
    plan = make_plan(options);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "harness: %s\n", e.what());
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "harness: %s\n", e.what());
    return 2;
  }
  if (options.dry_run) {
    print_dry_run(plan);
    return 0;
  }
  try {
    return run_matrix(plan, options, quote_command(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "harness: %s\n", e.what());
    return 1;
  }
}
