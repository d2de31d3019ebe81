// remote_load.cpp: see remote_load.h.
#include "remote_load.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <stdexcept>
#include <variant>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/status.h"
#include "loadgen/agent.h"
#include "server_control.h"

namespace cb::harness {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Kept of an agent's stderr: the end, where the transport's reason is.
constexpr std::size_t kStderrTail = 4096;
// After an agent's output ends: how long its transport may take to exit.
constexpr std::chrono::milliseconds kExitWait{3'000};
// The start instant lies this far ahead at least (configs must arrive first).
constexpr std::chrono::milliseconds kStartLead{300};

// One agent: its transport's process group and the three pipes.
struct Agent {
  const ClientHost* host = nullptr;
  pid_t pid = -1;
  Fd in, out, err;
  std::string out_buf, err_tail;
  bool out_closed = false, err_closed = false;
  std::optional<int> wait_status;
  RunRecord::Agent record;
  int64_t offset_ns = 0;
  std::optional<json> result;

  // The last line of stderr, without progress lines: the transport's reason.
  std::string stderr_reason() const {
    std::string reason;
    std::size_t at = 0;
    while (at < err_tail.size()) {
      std::size_t end = err_tail.find('\n', at);
      std::string line = err_tail.substr(at, end == std::string::npos ? std::string::npos : end - at);
      bool progress = line.rfind("loadgen agent ", 0) == 0;
      if (!line.empty() && !progress) reason = line;
      if (end == std::string::npos) break;
      at = end + 1;
    }
    return reason;
  }
};

// Starts `/bin/sh -c COMMAND` in its own process group, killed with the
// harness, with pipes for its stdin, stdout and stderr.
void spawn(Agent& a, const std::string& command) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw SysError("pipe2", errno);
  Fd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) throw SysError("pipe2", errno);
  Fd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) throw SysError("pipe2", errno);
  Fd err_r(err[0]), err_w(err[1]);
  pid_t parent = ::getpid();
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = ::fork();
  if (pid < 0) throw SysError("fork", errno);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(in_r.get(), STDIN_FILENO);
    ::dup2(out_w.get(), STDOUT_FILENO);
    ::dup2(err_w.get(), STDERR_FILENO);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // either side may win the race; both ask for the same
  a.pid = pid;
  a.in = std::move(in_w);
  a.out = std::move(out_r);
  a.err = std::move(err_r);
  ::fcntl(a.out.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(a.err.get(), F_SETFL, O_NONBLOCK);
}

// Reads what is there; marks ends.
void drain(Agent& a) {
  char buf[65536];
  auto read_into = [&](Fd& fd, bool& closed, auto&& sink) {
    while (!closed) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        sink(std::string_view(buf, static_cast<std::size_t>(n)));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        closed = true;
      } else if (errno == EAGAIN) {
        return;
      }
    }
  };
  read_into(a.out, a.out_closed, [&](std::string_view s) { a.out_buf.append(s); });
  read_into(a.err, a.err_closed, [&](std::string_view s) {
    a.err_tail.append(s);
    if (a.err_tail.size() > kStderrTail) a.err_tail.erase(0, a.err_tail.size() - kStderrTail);
  });
}

// Waits up to `timeout` for output from any agent (or a readable `extra`).
void pump(std::vector<Agent>& agents, std::chrono::milliseconds timeout, const std::vector<int>& extra = {}) {
  std::vector<pollfd> fds;
  for (Agent& a : agents) {
    if (!a.out_closed) fds.push_back({a.out.get(), POLLIN, 0});
    if (!a.err_closed) fds.push_back({a.err.get(), POLLIN, 0});
  }
  for (int fd : extra) fds.push_back({fd, POLLIN, 0});
  if (fds.empty()) return;
  int n = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (n <= 0) return;
  for (Agent& a : agents) drain(a);
}

std::optional<std::string> take_line(Agent& a) {
  std::size_t nl = a.out_buf.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string line = a.out_buf.substr(0, nl);
  a.out_buf.erase(0, nl + 1);
  return line;
}

// Reaps the transport if it has ended, waiting up to `wait` for it.
void reap(Agent& a, std::chrono::milliseconds wait) {
  auto until = Clock::now() + wait;
  while (!a.wait_status && a.pid > 0) {
    int status = 0;
    pid_t r = ::waitpid(a.pid, &status, WNOHANG);
    if (r == a.pid) a.wait_status = status;
    else if (r < 0 && errno != EINTR) break;
    else if (Clock::now() >= until) break;
    else ::usleep(10'000);
  }
}

// Why an agent said nothing more: its transport's exit and stderr's end.
std::string ended(Agent& a) {
  reap(a, kExitWait);
  std::string how = a.wait_status ? "the transport " + describe_wait_status(*a.wait_status) : "its output ended";
  std::string reason = a.stderr_reason();
  return reason.empty() ? how : fmt::format("{}: {}", how, reason);
}

std::string failure(const Agent& a, const std::string& why) {
  return fmt::format("client host {}: {}", a.host->host, why);
}

// The next line of one agent within `deadline`; on none, the reason.
std::variant<json, std::string> next_message(std::vector<Agent>& agents, Agent& a, Clock::time_point deadline) {
  while (true) {
    if (auto line = take_line(a)) {
      try {
        json j = json::parse(*line);
        if (j.is_object() && j.contains("error")) return fmt::format("the agent refused: {}", j["error"].dump());
        if (j.is_object()) return j;
      } catch (const json::exception&) {
      }
      return fmt::format("not a loadgen agent (it said '{}')", line->substr(0, 120));
    }
    if (a.out_closed) return ended(a);
    auto now = Clock::now();
    if (now >= deadline) return std::string("no answer from the agent in time (a hung transport or agent)");
    pump(agents, std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                          std::chrono::milliseconds(200)));
  }
}

bool send_line(Agent& a, const json& j) {
  std::string line = j.dump() + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(a.in.get(), line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Hello and version: nullopt when the agent is usable.
std::optional<std::string> greet(std::vector<Agent>& agents, Agent& a, Clock::time_point deadline) {
  auto hello = next_message(agents, a, deadline);
  if (auto* why = std::get_if<std::string>(&hello)) return *why;
  const json& h = std::get<json>(hello);
  if (h.value("agent", "") != "loadgen" || !h.contains("version") || !h["version"].is_string()) {
    return fmt::format("not a loadgen agent (it said '{}')", h.dump().substr(0, 120));
  }
  a.record.version = h["version"].get<std::string>();
  if (*a.record.version != loadgen::build_version()) {
    return fmt::format("version mismatch: its loadgen is {}, the harness's is {} (build the same commit there)",
                       *a.record.version, loadgen::build_version());
  }
  return std::nullopt;
}

// The clock offset from the ping with the shortest round trip.
std::optional<std::string> measure_clock(std::vector<Agent>& agents, Agent& a, std::chrono::milliseconds timeout) {
  int64_t best_rtt = INT64_MAX;
  for (int k = 0; k < kPings; ++k) {
    int64_t t0 = loadgen::unix_time_ns();
    if (!send_line(a, {{"ping", k}})) return "the transport closed its input: " + ended(a);
    auto pong = next_message(agents, a, Clock::now() + timeout);
    int64_t t1 = loadgen::unix_time_ns();
    if (auto* why = std::get_if<std::string>(&pong)) return "clock ping: " + *why;
    const json& p = std::get<json>(pong);
    if (!p.contains("pong") || p["pong"] != k || !p.contains("clock_unix_ns") || !p["clock_unix_ns"].is_number_integer()) {
      return fmt::format("clock ping: unexpected answer '{}'", p.dump().substr(0, 120));
    }
    int64_t rtt = t1 - t0;
    if (rtt < best_rtt) {
      best_rtt = rtt;
      a.offset_ns = p["clock_unix_ns"].get<int64_t>() - (t0 + rtt / 2);
    }
  }
  a.record.rtt_ms = static_cast<double>(best_rtt) / 1e6;
  a.record.clock_offset_ms = static_cast<double>(a.offset_ns) / 1e6;
  return std::nullopt;
}

// Closes every agent's stdin (they stop and send what they measured).
void stop_all(std::vector<Agent>& agents) {
  for (Agent& a : agents) a.in.reset();
}

// Nothing of any agent is left running: SIGKILL to each transport's group,
// then reaped.
void finish(std::vector<Agent>& agents) {
  stop_all(agents);
  for (Agent& a : agents) {
    if (a.pid <= 0) continue;
    reap(a, std::chrono::milliseconds(a.wait_status ? 0 : 1000));
    ::kill(-a.pid, SIGKILL);
    reap(a, kExitWait);
  }
}

void record_result(Agent& a, const loadgen::LoadResult& r) {
  a.record.requests = r.counters.requests;
  a.record.requests_per_s = r.requests_per_s();
  a.record.errors_total = r.counters.error_total();
  a.record.cpu_user_s = r.cpu_user_s;
  a.record.cpu_sys_s = r.cpu_sys_s;
  a.record.cpu_utilization = r.cpu_utilization;
  a.record.saturated = r.saturated;
  if (a.result->contains("agent") && (*a.result)["agent"].is_object()) {
    const json& info = (*a.result)["agent"];
    if (info.contains("start_late_ms") && info["start_late_ms"].is_number()) {
      a.record.start_late_ms = info["start_late_ms"].get<double>();
    }
  }
}

}  // namespace

std::vector<loadgen::LoadConfig> split_load(const loadgen::LoadConfig& config, const std::vector<ClientHost>& hosts) {
  int n = static_cast<int>(hosts.size());
  if (n == 0) throw std::invalid_argument("no client hosts");
  if (config.connections < n) {
    throw std::invalid_argument(fmt::format("{} connections cannot be split over {} client hosts", config.connections, n));
  }
  std::vector<loadgen::LoadConfig> out;
  for (int i = 0; i < n; ++i) {
    loadgen::LoadConfig c = config;
    c.connections = config.connections / n + (i < config.connections % n ? 1 : 0);
    c.rate_per_s = config.rate_per_s * c.connections / config.connections;
    c.connect_rate_per_s = config.connect_rate_per_s * c.connections / config.connections;
    c.max_requests = config.max_requests == 0 ? 0 : std::max<uint64_t>(1, config.max_requests * static_cast<uint64_t>(c.connections) / static_cast<uint64_t>(config.connections));
    c.source_ips = hosts[static_cast<std::size_t>(i)].source_ips;
    out.push_back(std::move(c));
  }
  return out;
}

RemoteOutcome run_remote_load(const loadgen::LoadConfig& config, const RemoteSettings& s,
                              loadgen::LoadControl& control) {
  RemoteOutcome outcome;
  std::vector<loadgen::LoadConfig> shares;
  try {
    shares = split_load(config, s.hosts);
    for (const loadgen::LoadConfig& c : shares) c.validate();
  } catch (const std::invalid_argument& e) {
    outcome.failure = fmt::format("client hosts: {}", e.what());
    return outcome;
  }
  std::vector<Agent> agents(s.hosts.size());
  auto fail = [&](Agent& a, const std::string& why) {
    a.record.failure_reason = why;
    if (!outcome.failure) outcome.failure = failure(a, why);
  };
  auto done = [&] {
    finish(agents);
    outcome.documents = {{"agents", json::array()}, {"merged", nullptr}};
    for (Agent& a : agents) {
      outcome.agents.push_back(a.record);
      outcome.documents["agents"].push_back({{"host", a.host->host}, {"result", a.result ? *a.result : json(nullptr)}});
    }
    if (outcome.merged) {
      outcome.documents["merged"] = {{"corrected", outcome.merged->corrected.to_json()},
                                     {"uncorrected", outcome.merged->uncorrected.to_json()}};
    }
    return outcome;
  };
  for (std::size_t i = 0; i < agents.size(); ++i) {
    Agent& a = agents[i];
    a.host = &s.hosts[i];
    a.record.host = a.host->host;
    a.record.connections = shares[i].connections;
    a.record.rate_per_s = shares[i].rate_per_s;
    try {
      spawn(a, agent_command(s.transport, a.host->host, s.agent_binary));
    } catch (const std::exception& e) {
      fail(a, fmt::format("cannot start the transport: {}", e.what()));
      return done();
    }
  }
  // 1-2: hello, version and clock, host by host (they started together).
  auto hello_deadline = Clock::now() + s.hello_timeout;
  for (Agent& a : agents) {
    if (auto why = greet(agents, a, hello_deadline)) fail(a, *why);
    else if (auto bad_clock = measure_clock(agents, a, s.hello_timeout)) fail(a, *bad_clock);
    if (outcome.failure) return done();
  }
  // 3: one start instant, in each agent's clock.
  int64_t max_rtt = 0;
  for (const Agent& a : agents) max_rtt = std::max(max_rtt, static_cast<int64_t>(*a.record.rtt_ms * 1e6));
  int64_t lead = std::max<int64_t>(std::chrono::nanoseconds(kStartLead).count(), 10 * max_rtt);
  int64_t start_unix = loadgen::unix_time_ns() + lead;
  int64_t start_steady = steady_ns() + lead;
  for (std::size_t i = 0; i < agents.size(); ++i) {
    Agent& a = agents[i];
    json run = {{"config", loadgen::config_to_json(shares[i])}, {"start_unix_ns", start_unix + a.offset_ns}};
    if (!send_line(a, run)) {
      fail(a, "the transport closed its input: " + ended(a));
      return done();
    }
  }
  // 4: the common timeline for the monitor, then the results.
  int64_t ramp = config.connect_rate_per_s > 0
                     ? static_cast<int64_t>(config.connections / config.connect_rate_per_s * 1e9)
                     : 0;
  int64_t warmup_at = start_steady + ramp;
  int64_t measure_at = warmup_at + config.warmup.count();
  int64_t end_at = measure_at + config.duration.count();
  std::shared_ptr<loadgen::LiveCounters[]> live(new loadgen::LiveCounters[1]);
  control.begin(live, 1, start_steady, warmup_at, measure_at, end_at);
  auto deadline = Clock::time_point(std::chrono::nanoseconds(end_at)) + config.connect_timeout + kResultGrace;
  std::vector<int> stops = {control.stop_fd()};
  if (control.extra_stop_fd() >= 0) stops.push_back(control.extra_stop_fd());
  bool stopping = false;
  while (true) {
    bool waiting = false;
    for (Agent& a : agents) {
      if (a.result || a.record.failure_reason) continue;
      if (auto line = take_line(a)) {
        try {
          json j = json::parse(*line);
          if (j.is_object() && j.contains("error")) fail(a, fmt::format("the agent failed: {}", j["error"].dump()));
          else if (j.is_object() && j.contains("results")) a.result = std::move(j);
          else fail(a, fmt::format("unexpected output '{}'", line->substr(0, 120)));
        } catch (const json::exception&) {
          fail(a, fmt::format("unexpected output '{}'", line->substr(0, 120)));
        }
      } else if (a.out_closed) {
        fail(a, "the agent ended without a result (" + ended(a) + ")");
      } else {
        waiting = true;
      }
      if (a.record.failure_reason && !stopping) {
        stop_all(agents);  // the run has failed: the others stop too
        stopping = true;
      }
    }
    if (!waiting) break;
    if (Clock::now() >= deadline) {
      for (Agent& a : agents) {
        if (!a.result && !a.record.failure_reason) fail(a, "no result in time (the agent hangs)");
      }
      break;
    }
    pump(agents, std::chrono::milliseconds(200), stopping ? std::vector<int>{} : stops);
    if (!stopping) {
      pollfd p[2] = {{stops[0], POLLIN, 0}, {stops.size() > 1 ? stops[1] : -1, POLLIN, 0}};
      if (::poll(p, 2, 0) > 0) {
        stop_all(agents);
        stopping = true;
      }
    }
  }
  control.end();
  if (outcome.failure) return done();
  // 5: exact merge.
  std::vector<loadgen::LoadResult> parts;
  for (Agent& a : agents) {
    try {
      parts.push_back(loadgen::result_from_json(*a.result));
      record_result(a, parts.back());
    } catch (const std::invalid_argument& e) {
      fail(a, fmt::format("its result does not read: {}", e.what()));
      return done();
    }
  }
  try {
    loadgen::LoadResult merged = loadgen::merge_results(parts);
    merged.window_start_ns = measure_at;
    merged.window_end_ns = measure_at + static_cast<int64_t>(merged.duration_s * 1e9);
    outcome.merged = std::move(merged);
  } catch (const std::invalid_argument& e) {
    outcome.failure = fmt::format("client hosts: {}", e.what());
  }
  return done();
}

}  // namespace cb::harness
