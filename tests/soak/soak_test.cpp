// soak_test.cpp: a bounded soak of one model variant. It measures the
// server's closed-loop capacity, then offers 80% of it (open loop) for the
// soak duration while sampling the server tree's RSS and open descriptors
// every second. A leak shows as a slope, not as a level, so the check is on
// the least-squares slope of each series after a warm-up fifth:
//   soak_test --server build/servers/bench_server --model reactor:epoll
//             [--proto echo|http] [--duration 5m] [--json FILE]
// ctest runs a short soak of each default model; ./run_all.sh soak (or the
// command above with --duration 5m) runs the long one.
#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/units.h"
#include "loadgen/load.h"
#include "support/server_process.h"

namespace cb::testing {
namespace {

struct Options {
  std::string server;
  std::string model;
  std::string proto = "echo";
  std::chrono::nanoseconds duration = std::chrono::seconds(20);
  std::string json_path;
};

constexpr int kConnections = 50;
constexpr double kLoadFraction = 0.8;
// Allowed RSS growth: 256 KiB/min plus 2% of the mean per minute (the
// allocator settles). Descriptors must not grow at all: the fewest seen in
// the last third of the samples may not exceed the fewest in the first third.
// A leak raises that floor; a descriptor held only while one request is
// served (the HTTP file between open and close, in any of 50 forked
// children: +1 in about one reading of ten) or a connection being replaced
// at a sampling instant does not.
constexpr double kRssSlopeFloorKbPerMin = 256;
constexpr double kRssSlopeShareOfMean = 0.02;

long status_kb(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::string(key).size()));
  }
  return 0;
}

int fd_count(pid_t pid) {
  DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return 0;
  int n = 0;
  while (dirent* e = ::readdir(dir)) n += e->d_name[0] != '.';
  ::closedir(dir);
  return n;
}

struct Sample {
  double t_min;
  double rss_kb;
  double fds;
};

Sample sample(ServerProcess& server, double t_min) {
  double rss = static_cast<double>(status_kb(server.pid(), "VmRSS:"));
  double fds = fd_count(server.pid());
  for (pid_t kid : server.children()) {
    rss += static_cast<double>(status_kb(kid, "VmRSS:"));
    fds += fd_count(kid);
  }
  return {t_min, rss, fds};
}

double fewest_fds(const std::vector<Sample>& s) {
  if (s.empty()) return 0;
  return std::min_element(s.begin(), s.end(), [](const Sample& a, const Sample& b) {
           return a.fds < b.fds;
         })->fds;
}

// Least-squares slope of y over t.
template <class Get>
double slope(const std::vector<Sample>& s, Get y) {
  double n = static_cast<double>(s.size()), st = 0, sy = 0, stt = 0, sty = 0;
  for (const Sample& p : s) {
    st += p.t_min;
    sy += y(p);
    stt += p.t_min * p.t_min;
    sty += p.t_min * y(p);
  }
  double den = n * stt - st * st;
  return den == 0 ? 0 : (n * sty - st * sy) / den;
}

loadgen::LoadConfig load_config(const Options& o, uint16_t port) {
  loadgen::LoadConfig c;
  c.port = port;
  c.proto = o.proto == "http" ? loadgen::Proto::kHttp : loadgen::Proto::kEcho;
  c.paths = {{"/index.html", 1}};
  c.connections = kConnections;
  c.threads = 1;
  c.warmup = std::chrono::seconds(1);
  return c;
}

int run(const Options& o) {
  char tmpl[] = "/tmp/cb-soak-XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  std::ofstream(root + "/index.html") << std::string(1024, 'x');
  ServerOptions so;
  so.binary = o.server;
  so.model = o.model;
  so.proto = o.proto;
  so.root = root;
  ServerProcess server(so);

  loadgen::LoadConfig capacity = load_config(o, server.port());
  capacity.duration = std::chrono::seconds(3);
  double capacity_rps = loadgen::run_load(capacity).requests_per_s();

  loadgen::LoadConfig soak = load_config(o, server.port());
  soak.rate_per_s = capacity_rps * kLoadFraction;
  soak.duration = o.duration;
  loadgen::LoadResult result;
  loadgen::LoadControl control;
  std::thread load([&] { result = loadgen::run_load(soak, &control); });
  // Samples are taken only inside the measured window: connecting, warm-up
  // and the closing of connections at the end are not a trend.
  std::vector<Sample> samples;
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    loadgen::Progress p = control.progress();
    if (p.phase == loadgen::Progress::Phase::kDone) break;
    if (p.phase != loadgen::Progress::Phase::kMeasuring) continue;
    std::chrono::duration<double, std::ratio<60>> t = std::chrono::steady_clock::now() - start;
    Sample s = sample(server, t.count());
    if (control.progress().phase == loadgen::Progress::Phase::kMeasuring) samples.push_back(s);
  }
  load.join();
  int stop_code = server.stop();
  std::system(("rm -rf '" + root + "'").c_str());

  std::vector<Sample> steady(samples.begin() + static_cast<long>(samples.size() / 5), samples.end());
  double rss_slope = slope(steady, [](const Sample& s) { return s.rss_kb; });
  double fd_slope = slope(steady, [](const Sample& s) { return s.fds; });
  double rss_mean = 0;
  for (const Sample& s : steady) rss_mean += s.rss_kb / static_cast<double>(steady.size());
  double rss_limit = kRssSlopeFloorKbPerMin + kRssSlopeShareOfMean * rss_mean;
  std::size_t third = steady.size() / 3;
  double fd_growth =
      fewest_fds({steady.end() - static_cast<long>(third), steady.end()}) -
      fewest_fds({steady.begin(), steady.begin() + static_cast<long>(third)});
  uint64_t errors = result.counters.error_total();

  nlohmann::ordered_json j;
  j["model"] = o.model;
  j["proto"] = o.proto;
  j["capacity_requests_per_s"] = capacity_rps;
  j["offered_requests_per_s"] = soak.rate_per_s;
  j["achieved_requests_per_s"] = result.requests_per_s();
  j["duration_s"] = result.duration_s;
  j["errors"] = errors;
  j["rss_mean_kb"] = rss_mean;
  j["rss_slope_kb_per_min"] = rss_slope;
  j["rss_slope_limit_kb_per_min"] = rss_limit;
  j["fd_slope_per_min"] = fd_slope;
  j["fd_growth"] = fd_growth;
  j["samples"] = steady.size();
  std::printf("soak %s\n", j.dump().c_str());
  if (!o.json_path.empty()) std::ofstream(o.json_path) << j.dump(2) << "\n";

  bool ok = true;
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "soak %s: FAILED: %s\n", o.model.c_str(), why.c_str());
    ok = false;
  };
  if (capacity_rps <= 0) fail("no capacity measured");
  if (errors != 0) fail(fmt::format("{} load errors", errors));
  if (rss_slope > rss_limit) fail(fmt::format("RSS grows {:.0f} KiB/min", rss_slope));
  if (fd_growth > 0) fail(fmt::format("descriptors grew by {} ({:.2f}/min)", fd_growth, fd_slope));
  if (steady.size() < 3) fail("too few samples in the measured window");
  if (stop_code != 0) fail(fmt::format("server exit status {}", stop_code));
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace cb::testing

int main(int argc, char** argv) {
  cb::testing::Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    try {
      if (a == "--server") o.server = v;
      else if (a == "--model") o.model = v;
      else if (a == "--proto") o.proto = v;
      else if (a == "--duration") o.duration = cb::units::parse_duration(v);
      else if (a == "--json") o.json_path = v;
      else throw std::invalid_argument("unknown option " + a);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "soak_test: %s\n", e.what());
      return 2;
    }
  }
  if (o.server.empty() || o.model.empty() || (o.proto != "echo" && o.proto != "http")) {
    std::fprintf(stderr,
                 "usage: soak_test --server PATH --model M [--proto echo|http] [--duration 5m]"
                 " [--json FILE]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return cb::testing::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak_test: %s\n", e.what());
    return 1;
  }
}
