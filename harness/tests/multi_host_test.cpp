// multi_host_test.cpp: the harness driving load from client hosts
// (--client-hosts, remote_load.h).
//
// LocalAgents: two agents on this machine through a transport that is a
// plain command prefix (no ssh, no root): the merge is exact and a loadgen
// of another build is refused.
//
// NetnsLab (root; skipped with the reason otherwise): a server namespace and
// two client namespaces joined by veth pairs, addresses in 198.18.0.0/15,
// a real sshd in each client namespace (tests/support/netns_lab.sh). A small
// matrix runs from both client hosts over ssh; a host that refuses SSH fails
// its runs at once, naming it; an agent killed mid-run fails its run, naming
// its host, and the matrix goes on; the lab's namespaces and daemons are
// gone after `down`. The lab is removed at the end of the suite, at exit,
// and by the next run's sweep if this process was killed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Single quotes for sh.
std::string sh_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The shell command that runs `prefix harness ARGS`, its output in TAG.*;
// killed after 120 s at most.
std::string fmt_command(const std::string& prefix, const std::string& tag, const std::string& args) {
  return "timeout -s KILL 120 " + prefix + " " CB_HARNESS " --no-calibrate --repeat 1 --out " + tag +
         ".res --run-info " + tag + ".info " + args + " > " + tag + ".out 2> " + tag + ".err";
}

struct Outcome {
  int exit_code = -1;
  std::string stderr_text;
  json results;  // results.json of the run's folder (null if none)
  std::string dir;
};

// Runs `prefix harness ARGS` (prefix: e.g. "ip netns exec NS"); bounded.
Outcome run_harness(const std::string& work, const std::string& prefix, const std::string& args) {
  static int serial = 0;
  std::string tag = work + "/h" + std::to_string(serial++);
  std::string cmd = fmt_command(prefix, tag, args);
  Outcome o;
  int status = std::system(cmd.c_str());
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.stderr_text = slurp(tag + ".err");
  std::string info = slurp(tag + ".info");
  std::size_t at = info.find("results_dir=");
  if (at != std::string::npos) {
    o.dir = info.substr(at + 12, info.find('\n', at) - at - 12);
    std::string text = slurp(o.dir + "/results.json");
    if (!text.empty()) o.results = json::parse(text);
  }
  return o;
}

std::map<double, uint64_t> buckets(const json& h) {
  std::map<double, uint64_t> out;
  for (const json& b : h.at("buckets")) out[b.at("lower_us").get<double>()] += b.at("count").get<uint64_t>();
  return out;
}

// A successful run with client hosts: its figures are the agents' added up,
// and its merged histograms the sum of theirs, bucket by bucket.
void expect_merged(const Outcome& o, const json& run, std::size_t agents) {
  SCOPED_TRACE(run.value("id", "?"));
  ASSERT_EQ(run["status"], "ok") << run["failure_reason"];
  ASSERT_EQ(run["agents"].size(), agents);
  uint64_t requests = 0, errors = 0;
  for (const json& a : run["agents"]) {
    EXPECT_TRUE(a["failure_reason"].is_null());
    EXPECT_GT(a["requests"].get<uint64_t>(), 0u) << a["host"];
    EXPECT_TRUE(a["cpu_utilization"].is_number()) << a["host"];
    EXPECT_TRUE(a["rtt_ms"].is_number()) << a["host"];
    requests += a["requests"].get<uint64_t>();
    errors += a["errors_total"].get<uint64_t>();
  }
  EXPECT_EQ(run["requests"].get<uint64_t>(), requests);
  uint64_t run_errors = 0;
  for (const auto& [name, count] : run["errors"].items()) {
    if (name != "late") run_errors += count.get<uint64_t>();
  }
  EXPECT_EQ(run_errors, errors);
  ASSERT_TRUE(run["agents_file"].is_string());
  json doc = json::parse(slurp(o.dir + "/" + run["agents_file"].get<std::string>()));
  ASSERT_EQ(doc["agents"].size(), agents);
  for (const char* which : {"corrected", "uncorrected"}) {
    std::map<double, uint64_t> sum;
    for (const json& a : doc["agents"]) {
      for (const auto& [lower, count] : buckets(a["result"]["histograms"][which])) sum[lower] += count;
    }
    EXPECT_EQ(buckets(doc["merged"][which]), sum) << which;
  }
  uint64_t merged = 0;
  for (const auto& [lower, count] : buckets(doc["merged"]["corrected"])) merged += count;
  EXPECT_EQ(merged, requests);  // every response of the window, in the merged histogram
  EXPECT_TRUE(run["server"]["cpu_user_s"].is_number());  // the server was sampled over the common window
  EXPECT_TRUE(run["timeseries"].is_null());
}

// ---- two agents on this machine, no ssh ------------------------------------

class LocalAgents : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cb-multihost-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work_ = tmpl;
  }
  void TearDown() override { fs::remove_all(work_); }
  std::string work_;
};

TEST_F(LocalAgents, TwoAgentsSplitTheLoadAndMergeExactly) {
  Outcome o = run_harness(work_, "",
                          "--models reactor:epoll --protos echo --connections 9 --duration 1s --warmup 200ms "
                          "--client-hosts a,b --client-transport 'env CB_CLIENT={host}' --agent-binary " CB_LOADGEN);
  ASSERT_EQ(o.exit_code, 0) << o.stderr_text;
  ASSERT_EQ(o.results["runs"].size(), 1u);
  const json& run = o.results["runs"][0];
  expect_merged(o, run, 2);
  EXPECT_EQ(run["agents"][0]["connections"], 5);
  EXPECT_EQ(run["agents"][1]["connections"], 4);
  EXPECT_EQ(o.results["config"]["client_hosts"], json({"a", "b"}));
}

TEST_F(LocalAgents, ALoadgenOfAnotherBuildIsRefusedNamingTheHost) {
  std::string fake = work_ + "/fake-loadgen";
  std::ofstream(fake) << "#!/bin/sh\n"
                         "echo '{\"agent\":\"loadgen\",\"version\":\"some-other-commit\",\"schema_version\":1,"
                         "\"host\":\"x\",\"pid\":1,\"clock_unix_ns\":0}'\n"
                         "cat > /dev/null\n";
  fs::permissions(fake, fs::perms::owner_all);
  auto t0 = std::chrono::steady_clock::now();
  Outcome o = run_harness(work_, "",
                          "--models reactor:epoll --protos echo --connections 4,8 --duration 1s --warmup 0s "
                          "--client-hosts good,old --client-transport 'env CB_CLIENT={host} sh -c \"if [ {host} = old ]; "
                          "then exec " + fake + "; else exec " CB_LOADGEN " --agent; fi\" --' --agent-binary /bin/true");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 60s);
  EXPECT_EQ(o.exit_code, 1) << o.stderr_text;
  ASSERT_EQ(o.results["runs"].size(), 2u);  // the matrix went on
  for (const json& run : o.results["runs"]) {
    EXPECT_EQ(run["status"], "failed");
    std::string why = run["failure_reason"].get<std::string>();
    EXPECT_EQ(why.rfind("client host old: version mismatch", 0), 0u) << why;
    EXPECT_NE(why.find("some-other-commit"), std::string::npos) << why;
  }
}

TEST_F(LocalAgents, BadHostsTransportOrListenAreOneLineUsageErrors) {
  for (const char* args : {"--client-hosts 'a;reboot'", "--client-hosts a,a", "--client-hosts 'a=1.2.3'",
                           "--client-hosts a --agent-binary '/x/$(y)'", "--listen ::1", "--listen nowhere"}) {
    Outcome o = run_harness(work_, "", std::string("--models reactor:epoll --protos echo --connections 2 ") + args);
    EXPECT_EQ(o.exit_code, 2) << args;
    EXPECT_EQ(std::count(o.stderr_text.begin(), o.stderr_text.end(), '\n'), 1) << args << ": " << o.stderr_text;
  }
}

// ---- the lab: namespaces, veth pairs and sshd ---------------------------------

struct Lab {
  std::string dir;
  std::map<std::string, std::string> env;
  std::string skip;
  bool up = false;
};

Lab& lab() {
  static Lab l;
  return l;
}

void lab_down() {
  Lab& l = lab();
  if (!l.up) return;
  l.up = false;
  std::string cmd = std::string(CB_NETNS_LAB) + " down " + sh_quoted(l.dir);
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "netns_lab down failed for %s\n", l.dir.c_str());
}

std::map<std::string, std::string> read_env(const std::string& path) {
  std::map<std::string, std::string> env;
  std::stringstream in(slurp(path));
  for (std::string line; std::getline(in, line);) {
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
    env[line.substr(0, eq)] = value;
  }
  return env;
}

std::string why_no_lab() {
  if (::geteuid() != 0) return "needs root (network namespaces, sshd)";
  for (const char* tool : {"ip", "ssh", "ssh-keygen", "timeout"}) {
    if (std::system(("command -v " + std::string(tool) + " > /dev/null 2>&1").c_str()) != 0) {
      return std::string(tool) + " is not installed (./run_all.sh setup installs it)";
    }
  }
  if (::access("/usr/sbin/sshd", X_OK) != 0) return "/usr/sbin/sshd is not installed (openssh-server)";
  if (std::system("ip netns add cb-probe-$$ 2>/dev/null && ip netns del cb-probe-$$") != 0) {
    return "this machine refuses network namespaces (ip netns add failed)";
  }
  return "";
}

class NetnsLab : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Lab& l = lab();
    l.skip = why_no_lab();
    if (!l.skip.empty()) return;
    std::system((std::string(CB_NETNS_LAB) + " sweep").c_str());
    std::string id = std::to_string(::getpid());
    l.dir = "/tmp/cbl-" + id;
    std::string cmd = std::string(CB_NETNS_LAB) + " up " + sh_quoted(l.dir) + " " + id + " 2";
    l.up = true;  // `up` removes what it made when it fails; `down` is harmless then
    std::atexit(lab_down);
    if (std::system(cmd.c_str()) != 0) {
      lab_down();
      l.skip = "the lab could not be set up (netns_lab.sh up failed; see above)";
      return;
    }
    l.env = read_env(l.dir + "/lab.env");
  }
  static void TearDownTestSuite() { lab_down(); }

  void SetUp() override {
    if (!lab().skip.empty()) GTEST_SKIP() << lab().skip;
    work_ = lab().dir + "/work";
    fs::create_directories(work_);
  }

  std::string in_server() const { return "ip netns exec " + lab().env.at("NS_SERVER"); }
  std::string transport() const { return sh_quoted(lab().env.at("SSH") + " {host}"); }
  std::string client(int k) const {  // root@198.18.k.2
    std::stringstream addrs(lab().env.at("CLIENT_ADDRS"));
    std::string a;
    for (int i = 0; i < k; ++i) addrs >> a;
    return "root@" + a;
  }
  std::string work_;
};

TEST_F(NetnsLab, AMatrixFromTwoClientHostsOverSsh) {
  std::string matrix = work_ + "/two_hosts.json";
  std::ofstream(matrix) << json({{"description", "two client hosts"},
                                 {"models", {"reactor:epoll"}},
                                 {"protos", {"echo", "http"}},
                                 {"file_sizes", {"1KiB"}},
                                 {"connections", {20}},
                                 {"duration", "1s"},
                                 {"warmup", "300ms"},
                                 // Client 1's agent binds both its addresses (--source-ips).
                                 {"client_hosts", {client(1) + "=198.18.1.2+198.18.1.3", client(2)}}})
                              .dump();
  Outcome o = run_harness(work_, in_server(),
                          "--profile " + matrix + " --listen " + lab().env.at("SERVER_ADDR") +
                              " --client-transport " + transport() + " --agent-binary " CB_LOADGEN);
  ASSERT_EQ(o.exit_code, 0) << o.stderr_text;
  EXPECT_EQ(o.results["config"]["listen"], "198.18.0.1");
  ASSERT_EQ(o.results["runs"].size(), 2u);
  for (const json& run : o.results["runs"]) {
    expect_merged(o, run, 2);
    EXPECT_EQ(run["agents"][0]["host"], client(1));
    EXPECT_EQ(run["agents"][1]["host"], client(2));
    EXPECT_LT(std::abs(run["agents"][0]["clock_offset_ms"].get<double>()), 50.0);  // one machine, one clock
    json doc = json::parse(slurp(o.dir + "/" + run["agents_file"].get<std::string>()));
    EXPECT_EQ(doc["agents"][0]["result"]["config"]["source_ips"], json({"198.18.1.2", "198.18.1.3"}));
    EXPECT_EQ(doc["agents"][1]["result"]["config"]["source_ips"], json::array());
    EXPECT_EQ(doc["agents"][0]["result"]["config"]["host"], "198.18.0.1");
  }
}

TEST_F(NetnsLab, AHostThatRefusesSshFailsFastNamingIt) {
  std::stringstream refusing(lab().env.at("REFUSING_ADDRS"));
  std::string bad;
  refusing >> bad;
  auto t0 = std::chrono::steady_clock::now();
  Outcome o = run_harness(work_, in_server(),
                          "--models reactor:epoll --protos echo --connections 10,20 --duration 1s --warmup 0s "
                          "--listen 198.18.0.1 --client-hosts " + client(1) + ",root@" + bad +
                              " --client-transport " + transport() + " --agent-binary " CB_LOADGEN);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  EXPECT_EQ(o.exit_code, 1) << o.stderr_text;
  ASSERT_EQ(o.results["runs"].size(), 2u);  // the matrix went on
  for (const json& run : o.results["runs"]) {
    EXPECT_EQ(run["status"], "failed");
    std::string why = run["failure_reason"].get<std::string>();
    EXPECT_EQ(why.rfind("client host root@" + bad + ":", 0), 0u) << why;
    EXPECT_NE(why.find("Connection refused"), std::string::npos) << why;
  }
}

// The pid of a `loadgen --agent` in namespace `ns`, or 0.
pid_t agent_in(const std::string& ns) {
  std::string pids = "/tmp/cb-agent-pids-" + std::to_string(::getpid());
  std::system(("ip netns pids " + ns + " > " + pids + " 2>/dev/null").c_str());
  std::stringstream in(slurp(pids));
  ::unlink(pids.c_str());
  for (pid_t pid; in >> pid;) {
    std::string cmdline = slurp("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline.find("loadgen") != std::string::npos && cmdline.find("--agent") != std::string::npos) return pid;
  }
  return 0;
}

TEST_F(NetnsLab, AnAgentKilledMidRunFailsTheRunNamingItsHost) {
  std::string tag = work_ + "/killed";
  std::string cmd = fmt_command(in_server(), tag,
                                "--models reactor:epoll --protos echo --connections 10,12 --duration 4s --warmup 0s "
                                "--listen 198.18.0.1 --client-hosts " + client(1) + "," + client(2) +
                                    " --client-transport " + transport() + " --agent-binary " CB_LOADGEN);
  pid_t harness = ::fork();
  ASSERT_GE(harness, 0);
  if (harness == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    ::_exit(127);
  }
  std::stringstream clients(lab().env.at("NS_CLIENTS"));
  std::string c1, c2;
  clients >> c1 >> c2;
  pid_t victim = 0;
  for (auto until = std::chrono::steady_clock::now() + 30s; victim == 0 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(50ms);
    victim = agent_in(c2);
  }
  EXPECT_NE(victim, 0) << "no agent ever ran in " << c2;
  if (victim != 0) {
    std::this_thread::sleep_for(1500ms);  // well into the first run's window
    ::kill(victim, SIGKILL);
  }
  int status = 0;
  ::waitpid(harness, &status, 0);
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 1) << slurp(tag + ".err");
  std::string info = slurp(tag + ".info");
  std::string dir = info.substr(12, info.find('\n') - 12);
  json results = json::parse(slurp(dir + "/results.json"));
  ASSERT_EQ(results["runs"].size(), 2u);
  const json& killed = results["runs"][0];
  EXPECT_EQ(killed["status"], "failed");
  std::string why = killed["failure_reason"].get<std::string>();
  EXPECT_EQ(why.rfind("client host " + client(2) + ": the agent ended without a result", 0), 0u) << why;
  EXPECT_FALSE(killed["agents"][1]["failure_reason"].is_null());
  EXPECT_EQ(results["runs"][1]["status"], "ok") << results["runs"][1]["failure_reason"];  // the matrix went on
}

TEST_F(NetnsLab, DownRemovesTheNamespacesAndDaemons) {
  std::string id = std::to_string(::getpid()) + "b";
  std::string dir = "/tmp/cbl-" + id;
  ASSERT_EQ(std::system((std::string(CB_NETNS_LAB) + " up " + dir + " " + id + " 1").c_str()), 0);
  pid_t sshd = std::atoi(slurp(dir + "/sshd_c1.pid").c_str());
  EXPECT_GT(sshd, 0);
  EXPECT_EQ(::kill(sshd, 0), 0);
  ASSERT_EQ(std::system((std::string(CB_NETNS_LAB) + " down " + dir).c_str()), 0);
  EXPECT_FALSE(fs::exists(dir));
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    // The sshd was a child of a `setsid` the script left; once killed it is
    // reaped by init (or this process, a subreaper or not): wait for that.
    gone = ::kill(sshd, 0) != 0 || slurp("/proc/" + std::to_string(sshd) + "/stat").find(" Z ") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "sshd " << sshd << " is still running";
  EXPECT_NE(std::system(("ip netns list | grep -q '^cbl-" + id + "-'").c_str()), 0) << "a namespace is left";
}

}  // namespace
