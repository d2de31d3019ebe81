// agent_test.cpp: the config as JSON both ways, an agent's result read back
// and merged exactly, and `loadgen --agent` as a process (hello, ping, a
// run, a bad configuration, stdin's end stopping a run).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "loadgen/agent.h"
#include "loadgen/config.h"
#include "test_server.h"

namespace cb::loadgen {
namespace {

using nlohmann::json;
using testing::TestServer;
using testing::TestServerOptions;
using namespace std::chrono_literals;

TEST(ConfigJson, ReadsBackWhatItWrites) {
  LoadConfig c;
  c.host = "127.0.0.1";
  c.port = 4242;
  c.proto = Proto::kHttp;
  c.paths = {{"/a", 3}, {"/b?x=1", 1}};
  c.class_per_path = false;
  c.source_ips = {"127.0.0.2", "127.0.0.3"};
  c.threads = 3;
  c.connections = 77;
  c.pipeline = 2;
  c.rate_per_s = 1234.5;
  c.duration = 1500ms;
  c.warmup = 250ms;
  c.interval = 100ms;
  c.connect_rate_per_s = 99;
  c.connect_timeout = 2s;
  c.request_timeout = 3s;
  json j = config_to_json(c);
  LoadConfig back = config_from_json(j);
  EXPECT_EQ(config_to_json(back), j);
  EXPECT_EQ(back.paths.size(), 2u);
  EXPECT_EQ(back.paths[0].weight, 3u);
  EXPECT_EQ(back.duration, 1500ms);
  EXPECT_FALSE(back.class_per_path);
}

TEST(ConfigJson, RefusesUnknownKeysWrongTypesAndBadValues) {
  json good = config_to_json(LoadConfig{});
  json typo = good;
  typo["conections"] = 5;
  EXPECT_THROW(config_from_json(typo), std::invalid_argument);
  json wrong = good;
  wrong["connections"] = "many";
  EXPECT_THROW(config_from_json(wrong), std::invalid_argument);
  json zero = good;
  zero["connections"] = 0;
  EXPECT_THROW(config_from_json(zero), std::invalid_argument);  // validate()
  EXPECT_THROW(config_from_json(json::array()), std::invalid_argument);
  EXPECT_NO_THROW(config_from_json(json::object()));  // every default
}

// Non-empty buckets by lower bound.
std::map<double, uint64_t> buckets(const json& h) {
  std::map<double, uint64_t> out;
  for (const json& b : h.at("buckets")) out[b.at("lower_us").get<double>()] += b.at("count").get<uint64_t>();
  return out;
}

LoadResult short_run(uint16_t port, int connections) {
  LoadConfig c;
  c.port = port;
  c.connections = connections;
  c.duration = 0ns;
  c.max_requests = 3000;
  return run_load(c);
}

TEST(AgentResult, ReadsBackAndMergesExactly) {
  TestServer server({});
  LoadResult a = short_run(server.port(), 2);
  LoadResult b = short_run(server.port(), 3);
  LoadResult a2 = result_from_json(a.to_json());
  EXPECT_EQ(a2.counters.requests, a.counters.requests);
  EXPECT_EQ(a2.counters.bytes_read, a.counters.bytes_read);
  EXPECT_EQ(a2.counters.response_head_bytes, a.counters.response_head_bytes);
  EXPECT_EQ(a2.counters.response_body_bytes, a.counters.response_body_bytes);
  EXPECT_EQ(a2.corrected.to_json(), a.corrected.to_json());
  EXPECT_EQ(a2.classes.size(), a.classes.size());
  EXPECT_EQ(a2.fairness.connections, a.fairness.connections);
  EXPECT_EQ(a2.fairness.total, a.fairness.total);
  LoadResult m = merge_results({a2, result_from_json(b.to_json())});
  EXPECT_EQ(m.counters.requests, a.counters.requests + b.counters.requests);
  EXPECT_EQ(m.config.connections, 5);
  EXPECT_EQ(m.fairness.connections, a.fairness.connections + b.fairness.connections);
  // Bucket by bucket: the merge is the sum.
  std::map<double, uint64_t> sum = buckets(a.corrected.to_json());
  for (const auto& [lower, count] : buckets(b.corrected.to_json())) sum[lower] += count;
  EXPECT_EQ(buckets(m.corrected.to_json()), sum);
  EXPECT_EQ(m.corrected.count(), a.corrected.count() + b.corrected.count());
  EXPECT_EQ(m.corrected.max(), std::max(a.corrected.max(), b.corrected.max()));
  ASSERT_EQ(m.classes.size(), 1u);
  EXPECT_EQ(m.classes[0].corrected.count(), m.corrected.count());
  EXPECT_THROW(result_from_json(json::object()), std::invalid_argument);
  EXPECT_THROW(merge_results({}), std::invalid_argument);
}

// `loadgen --agent` with its stdin, stdout and stderr on pipes.
class AgentProcess {
 public:
  AgentProcess() {
    int in[2], out[2];
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      int null_fd = ::open("/dev/null", O_WRONLY);
      ::dup2(null_fd, 2);
      ::execl(CB_LOADGEN_BINARY, CB_LOADGEN_BINARY, "--agent", nullptr);
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
  }
  ~AgentProcess() {
    close_stdin();
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }
  void send(const json& j) {
    std::string line = j.dump() + "\n";
    ASSERT_EQ(::write(in_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  // The next line within `timeout`; "" on its end or a timeout.
  std::string line(std::chrono::milliseconds timeout = 10s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
      std::size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char chunk[65536];
      ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  int exit_code() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::string buf_;
  std::optional<int> status_;
};

TEST(AgentProcess, HelloPingAndARunFromStdin) {
  TestServer server({});
  AgentProcess agent;
  json hello = json::parse(agent.line());
  EXPECT_EQ(hello["agent"], "loadgen");
  EXPECT_EQ(hello["version"], build_version());
  EXPECT_TRUE(hello["clock_unix_ns"].is_number_integer());
  agent.send({{"ping", 7}});
  json pong = json::parse(agent.line());
  EXPECT_EQ(pong["pong"], 7);
  LoadConfig c;
  c.port = server.port();
  c.connections = 4;
  c.duration = 300ms;
  int64_t start = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count() + 200'000'000;
  agent.send({{"config", config_to_json(c)}, {"start_unix_ns", start}});
  std::string text = agent.line();
  ASSERT_FALSE(text.empty());
  json result = json::parse(text);
  EXPECT_EQ(agent.exit_code(), 0);
  EXPECT_EQ(result["config"]["connections"], 4);
  EXPECT_GT(result["results"]["requests"].get<uint64_t>(), 0u);
  EXPECT_GE(result["agent"]["started_unix_ns"].get<int64_t>(), start);  // waited for the start
  EXPECT_LT(result["agent"]["start_late_ms"].get<double>(), 1000.0);
  LoadResult back = result_from_json(result);
  EXPECT_EQ(back.corrected.count(), result["results"]["requests"].get<uint64_t>());
}

TEST(AgentProcess, ABadConfigurationIsAnErrorLineAndExit2) {
  AgentProcess agent;
  ASSERT_FALSE(agent.line().empty());  // hello
  agent.send({{"config", {{"connections", -1}}}});
  json error = json::parse(agent.line());
  ASSERT_TRUE(error.contains("error"));
  EXPECT_NE(error["error"].get<std::string>().find("connections"), std::string::npos);
  EXPECT_EQ(agent.exit_code(), 2);
}

TEST(AgentProcess, StdinsEndStopsTheRunWithAResult) {
  TestServer server({});
  AgentProcess agent;
  ASSERT_FALSE(agent.line().empty());
  LoadConfig c;
  c.port = server.port();
  c.connections = 2;
  c.duration = 60s;
  agent.send({{"config", config_to_json(c)}});
  std::this_thread::sleep_for(300ms);
  auto t0 = std::chrono::steady_clock::now();
  agent.close_stdin();
  json result = json::parse(agent.line(20s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s);
  EXPECT_EQ(result["results"]["stop_reason"], "stopped");
  EXPECT_EQ(agent.exit_code(), 0);
}

}  // namespace
}  // namespace cb::loadgen
