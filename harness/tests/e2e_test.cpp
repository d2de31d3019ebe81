// e2e_test.cpp: the harness binary end to end.
//  * A tiny matrix (two models, both protocols, 1-second runs) produces a
//    results folder whose results.json has exactly the keys and types that
//    results/README.md documents (the tables are parsed from the README
//    itself, so the two cannot drift apart), figures that agree with each
//    other, an .hgrm per run and the `latest` link.
//  * A server that crashes mid-run (bench_server's hidden --crash-after)
//    makes that run `failed` with the reason, the next run still succeeds,
//    and no server process is left behind.
//  * A service cell (/app with one backend call per request) starts
//    bench_backend before the server and stops it after: every call the
//    server counted is a reply the backend counted, and no backend is left.
//    A backend that cannot start fails its run and the matrix goes on.
//  * Bad command lines exit 2 with one line.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "memory_cgroup.h"
#include "procfs.h"
#include "workspace.h"

namespace cb::harness {
namespace {

using nlohmann::json;

struct Outcome {
  pid_t pid = -1;
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv with extra environment entries; collects stdout and stderr.
Outcome run(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  Outcome o;
  o.pid = pid;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open = 2;
  while (open > 0 && ::poll(fds, 2, 300'000) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        continue;
      }
      (i == 0 ? o.out : o.err).append(buf, static_cast<std::size_t>(n));
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

json load_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// ---- the documented schema, read from results/README.md -------------------

struct KeyDoc {
  std::string type;       // "int", "number or null", "[string]", ...
  std::set<std::string> subkeys;  // for objects whose meaning lists `keys`
};

struct Schema {
  std::map<std::string, KeyDoc> top, context, config, cell, run, aggregate;
};

// The `quoted` pieces of a table cell.
std::vector<std::string> backticked(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t open = text.find('`'); open != std::string::npos; open = text.find('`', open)) {
    std::size_t close = text.find('`', open + 1);
    if (close == std::string::npos) break;
    if (close > open + 1) out.push_back(text.substr(open + 1, close - open - 1));
    open = close + 1;
  }
  return out;
}

std::string trim(const std::string& s) {
  auto a = s.find_first_not_of(' ');
  auto b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

Schema read_schema(const std::string& readme) {
  Schema s;
  std::ifstream in(readme);
  std::string line, section;
  int runs_table = -1;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      section = line.substr(3);
      in_table = false;
      continue;
    }
    if (line.rfind("| `", 0) != 0) {
      if (line.rfind("|", 0) != 0) in_table = false;
      continue;
    }
    if (!in_table && section == "`runs[]`") ++runs_table;  // 0: cell keys, 1: run keys
    in_table = true;
    std::vector<std::string> cells;
    std::stringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(trim(cell));
    if (cells.size() < 3) continue;
    KeyDoc doc{cells[1], {}};
    if (doc.type.rfind("object", 0) == 0) {
      // `{mean, median, ...}` describes the values, not keys of the object.
      for (const std::string& k : backticked(cells[2])) {
        if (k.front() != '{') doc.subkeys.insert(k);
      }
    }
    std::map<std::string, KeyDoc>* target = nullptr;
    if (section == "Top level") target = &s.top;
    else if (section == "`context`") target = &s.context;
    else if (section == "`config`") target = &s.config;
    else if (section == "`runs[]`") target = runs_table == 0 ? &s.cell : &s.run;
    else if (section == "`aggregates[]`") target = &s.aggregate;
    if (target == nullptr) continue;
    for (const std::string& key : backticked(cells[0])) (*target)[key] = doc;
  }
  return s;
}

// Walks a dotted key ("server.cpu_user_s") into `j`; null pointer if absent.
const json* at_path(const json& j, const std::string& dotted) {
  const json* cur = &j;
  std::stringstream parts(dotted);
  for (std::string p; std::getline(parts, p, '.');) {
    if (!cur->is_object() || !cur->contains(p)) return nullptr;
    cur = &(*cur)[p];
  }
  return cur;
}

bool type_matches(const json& v, std::string type, bool allow_null) {
  bool nullable = allow_null || type.find("or null") != std::string::npos;
  type = type.substr(0, type.find(" or "));
  if (v.is_null()) return nullable;
  if (type == "int") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "bool") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "[int]" || type == "[string]") {
    if (!v.is_array()) return false;
    for (const json& e : v) {
      if (type == "[int]" ? !e.is_number_integer() : !e.is_string()) return false;
    }
    return true;
  }
  ADD_FAILURE() << "README type not understood: " << type;
  return false;
}

// Every documented key is present with its type; every key present is
// documented (nested objects under a documented dotted prefix included).
void check_object(const json& j, const std::map<std::string, KeyDoc>& docs, const std::string& where,
                  const std::set<std::string>& nullable = {}) {
  ASSERT_TRUE(j.is_object()) << where;
  std::set<std::string> prefixes;
  for (const auto& [key, doc] : docs) {
    const json* v = at_path(j, key);
    ASSERT_NE(v, nullptr) << where << ": documented key '" << key << "' missing";
    EXPECT_TRUE(type_matches(*v, doc.type, nullable.count(key) != 0 || nullable.count("*") != 0))
        << where << "." << key << " = " << v->dump() << " is not " << doc.type;
    if (!doc.subkeys.empty() && v->is_object()) {
      std::set<std::string> have;
      for (const auto& [k, sub] : v->items()) have.insert(k);
      EXPECT_EQ(have, doc.subkeys) << where << "." << key;
    }
    if (key.find('.') != std::string::npos) prefixes.insert(key.substr(0, key.find('.')));
  }
  for (const auto& [k, v] : j.items()) {
    if (prefixes.count(k) != 0) {
      for (const auto& [sub, sv] : v.items()) {
        EXPECT_EQ(docs.count(k + "." + sub), 1u) << where << ": undocumented key '" << k << "." << sub << "'";
      }
      continue;
    }
    EXPECT_EQ(docs.count(k), 1u) << where << ": undocumented key '" << k << "'";
  }
}

class HarnessE2E : public ::testing::Test {
 protected:
  TempDir tmp_{"harness-e2e-"};

  std::string write_matrix(const json& m) {
    std::string path = tmp_.path() + "/matrix.json";
    std::ofstream(path) << m.dump(2);
    return path;
  }
};

TEST_F(HarnessE2E, TinyMatrixMatchesTheDocumentedSchema) {
  std::string matrix = write_matrix({{"models", {"reactor:epoll", "thread:per-conn"}},
                                     {"protos", {"echo", "http"}},
                                     {"connections", {20}},
                                     {"duration", "1s"},
                                     {"warmup", "300ms"}});
  std::string out_root = tmp_.path() + "/results";
  std::string run_info = tmp_.path() + "/run-info";
  Outcome o = run({CB_HARNESS, "--profile", matrix, "--out", out_root, "--run-info", run_info});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  std::string dir = last_line(o.out);
  EXPECT_EQ(dir.rfind(out_root + "/", 0), 0u) << o.out;
  // --run-info says the same for scripts, and the matrix file has no
  // micro-benchmarks.
  std::ifstream info_in(run_info);
  std::string info((std::istreambuf_iterator<char>(info_in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(info, "results_dir=" + dir + "\nmicrobench=false\n");
  char target[256] = {};
  ASSERT_GT(::readlink((out_root + "/latest").c_str(), target, sizeof target - 1), 0);
  EXPECT_EQ(out_root + "/" + target, dir);

  json doc = load_json(dir + "/results.json");
  Schema schema = read_schema(CB_RESULTS_README);
  ASSERT_FALSE(schema.run.empty());
  check_object(doc, schema.top, "top");
  check_object(doc["context"], schema.context, "context",
               {"git.commit", "git.dirty", "calibration.loopback_rtt_cross_cpu_us"});
  std::map<std::string, KeyDoc> aggregate_docs = schema.cell;
  aggregate_docs.insert(schema.aggregate.begin(), schema.aggregate.end());
  check_object(doc["config"], schema.config, "config");
  for (const json& cell : doc["config"]["cells"]) check_object(cell, schema.cell, "config.cells[]");
  EXPECT_EQ(doc["config"]["microbench"], false);
  bool has_epoll = false;
  for (const json& m : doc["config"]["registry"]) {
    for (const char* key : {"name", "variant", "default", "summary", "supported", "why_not"}) {
      EXPECT_TRUE(m.contains(key)) << m.dump();
    }
    has_epoll = has_epoll || (m["name"] == "reactor" && m["variant"] == "epoll");
  }
  EXPECT_TRUE(has_epoll) << doc["config"]["registry"].dump();

  std::map<std::string, KeyDoc> run_docs = schema.cell;
  run_docs.insert(schema.run.begin(), schema.run.end());
  ASSERT_EQ(doc["runs"].size(), 4u);
  std::set<std::string> ids;
  for (const json& r : doc["runs"]) {
    check_object(r, run_docs, "runs[" + r["id"].get<std::string>() + "]");
    EXPECT_EQ(r["status"], "ok") << r["failure_reason"];
    ids.insert(r["id"].get<std::string>());
    // The figures agree with each other.
    double requests = r["requests"].get<double>();
    EXPECT_GT(requests, 0);
    EXPECT_NEAR(r["requests_per_s"].get<double>(), requests / r["duration_s"].get<double>(), 1e-6 * requests);
    const json& s = r["server"];
    EXPECT_NEAR(s["cpu_us_per_request"].get<double>(),
                (s["cpu_user_s"].get<double>() + s["cpu_sys_s"].get<double>()) * 1e6 / requests, 1e-6);
    EXPECT_NEAR(s["cs_per_request"].get<double>(),
                (s["voluntary_cs"].get<double>() + s["involuntary_cs"].get<double>()) / requests, 1e-9);
    EXPECT_NEAR(s["pss_per_connection_kb"].get<double>(),
                (s["pss_peak_kb"].get<double>() - s["pss_idle_kb"].get<double>()) / 20.0, 1e-9);
    EXPECT_GE(s["threads_peak"].get<int>(), r["model"] == "thread" ? 21 : 1);
    EXPECT_EQ(s["processes_peak"], 1);
    EXPECT_EQ(r["errors"]["mismatch"], 0);
    // What each response carried: bench_server's head is the same for every
    // response of a run (only the Date's value changes), so the mean is a
    // whole number; echo has no head and its body is the message.
    if (r["proto"] == "http") {
      double head = r["response_header_bytes_per_request"].get<double>();
      EXPECT_EQ(head, std::floor(head));
      EXPECT_GT(head, 100.0);  // status line, Date, Content-Type, -Length, Connection
      EXPECT_LT(head, 200.0);
      EXPECT_GE(r["response_body_bytes_per_request"].get<double>(), 0.0);
    } else {
      EXPECT_TRUE(r["response_header_bytes_per_request"].is_null());
      EXPECT_EQ(r["response_body_bytes_per_request"].get<double>(),
                r["msg_size_bytes"].get<double>());
    }
    EXPECT_TRUE(r["latency_uncorrected"].is_null());  // closed loop
    EXPECT_LE(r["latency"]["p50_us"].get<double>(), r["latency"]["p99_us"].get<double>());
    std::ifstream hgrm(dir + "/" + r["hgrm_file"].get<std::string>());
    std::string head;
    std::getline(hgrm, head);
    EXPECT_NE(head.find("Percentile"), std::string::npos) << head;
    // The time series covers the warm-up (300 ms: two 250 ms intervals
    // reach back over it) and the 1 s window in four intervals whose
    // requests add up to the run's; the server's CPU is in each window
    // interval, and the noise figures are measured.
    const json& ts = r["timeseries"];
    ASSERT_TRUE(ts.is_object());
    EXPECT_DOUBLE_EQ(ts["interval_s"].get<double>(), 0.25);
    uint64_t in_window = 0;
    int warm = 0, window = 0;
    for (const json& i : ts["intervals"]) {
      if (i["warmup"].get<bool>()) {
        ++warm;
        continue;
      }
      ++window;
      in_window += i["requests"].get<uint64_t>();
      EXPECT_EQ(i["connections_open"], 20);
      // The last interval may end after the last CPU point (taken ahead of
      // the window's end, further ahead on a busy machine): null allowed.
      if (window == 4 && i["server_cpu_pct"].is_null()) continue;
      ASSERT_TRUE(i["server_cpu_pct"].is_number()) << i.dump();
      EXPECT_GT(i["server_cpu_pct"].get<double>(), 0.0) << i.dump();
      EXPECT_LE(i["server_cpu_pct"].get<double>(), 100.0 * 1.2) << i.dump();  // one server CPU
    }
    EXPECT_EQ(warm, 2);
    EXPECT_EQ(window, 4);
    EXPECT_EQ(in_window, r["requests"].get<uint64_t>());
    EXPECT_TRUE(r["noise"]["other_processes_cpu_pct"].is_number());
    EXPECT_TRUE(r["noise"]["steal_server_cpus_pct"].is_number());
  }
  EXPECT_EQ(ids.size(), 4u);
  ASSERT_EQ(doc["aggregates"].size(), 4u);
  for (const json& a : doc["aggregates"]) {
    check_object(a, aggregate_docs, "aggregates[]");
    EXPECT_EQ(a["repetitions"], 1);
    EXPECT_EQ(a["ok_repetitions"], 1);
    for (const auto& [name, stats] : a["metrics"].items()) {
      EXPECT_EQ(stats["stddev"], 0.0) << name;
      EXPECT_EQ(stats["mean"], stats["median"]) << name;
    }
  }
  // The calibration measured everything on this 2-CPU (or larger) machine.
  for (const auto& [k, v] : doc["context"]["calibration"].items()) {
    if (k.rfind("disk_", 0) == 0) {
      EXPECT_TRUE(v.is_null()) << k << ": measured only for disk workloads";
    } else if (k != "loopback_rtt_cross_cpu_us") {
      EXPECT_TRUE(v.is_number()) << k;
    }
  }
}

// --target-ci repeats a cell while its throughput interval is wider than
// asked, up to --max-repeat; a loose target is met by the first run's own
// interval (batch means over its time series).
TEST_F(HarnessE2E, TargetCiRepeatsUntilNarrowOrMaxRepeat) {
  std::string matrix = write_matrix({{"models", {"reactor:epoll"}},
                                     {"protos", {"echo"}},
                                     {"connections", {10}},
                                     {"duration", "1500ms"},
                                     {"warmup", "200ms"}});
  auto runs_of = [&](const std::string& target) {
    std::string out_root = tmp_.path() + "/results-" + target;
    Outcome o = run({CB_HARNESS, "--profile", matrix, "--out", out_root, "--no-calibrate", "--target-ci", target,
                     "--max-repeat", "3"});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    json doc = load_json(last_line(o.out) + "/results.json");
    EXPECT_EQ(doc["config"]["max_repeat"], 3);
    return doc["runs"].size();
  };
  EXPECT_EQ(runs_of("0.01"), 3u);  // never that narrow: three repetitions
  EXPECT_EQ(runs_of("90"), 1u);    // any run's interval is narrower than ±90%
}

// Any process whose command line mentions `marker`.
std::vector<pid_t> processes_mentioning(const std::string& marker) {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  while (const dirent* e = ::readdir(dir)) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0 || pid == ::getpid()) continue;
    std::string cmd = procfs::read_file(std::string("/proc/") + e->d_name + "/cmdline").value_or("");
    if (cmd.find(marker) != std::string::npos) out.push_back(pid);
  }
  ::closedir(dir);
  return out;
}

std::vector<std::string> entries_starting(const std::string& dir_path, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    if (std::string(e->d_name).rfind(prefix, 0) == 0) out.emplace_back(e->d_name);
  }
  ::closedir(dir);
  return out;
}

TEST_F(HarnessE2E, CrashMidRunIsMarkedFailedAndTheMatrixGoesOn) {
  // The forking model aborts after 300 requests, with live children that
  // must not survive it; the second cell is served normally.
  std::string matrix = write_matrix({{"models", {"process:fork"}},
                                     {"protos", {"echo"}},
                                     {"connections", {10}},
                                     {"server_args", {"--crash-after", "300"}},
                                     {"duration", "1s"},
                                     {"warmup", "200ms"},
                                     {"extra", {{{"models", {"reactor:epoll"}}, {"connections", {12}},
                                                 {"server_args", json::array()}}}}});
  std::string scratch = tmp_.path() + "/scratch";
  ASSERT_EQ(::mkdir(scratch.c_str(), 0755), 0);
  Outcome o = run({CB_HARNESS, "--profile", matrix, "--out", tmp_.path() + "/results", "--no-calibrate"},
                  {"TMPDIR=" + scratch, "CI=true"});
  EXPECT_EQ(o.exit_code, 1) << o.err;  // some run failed
  json doc = load_json(last_line(o.out) + "/results.json");
  ASSERT_EQ(doc["runs"].size(), 2u);
  const json& crashed = doc["runs"][0];
  EXPECT_EQ(crashed["id"], "process-fork_echo_c10_m64_crashafter-300_closed_r0");
  EXPECT_EQ(crashed["status"], "failed");
  std::string reason = crashed["failure_reason"].get<std::string>();
  EXPECT_EQ(reason.rfind("crash: server killed by SIGABRT", 0), 0u) << reason;
  EXPECT_EQ(doc["runs"][1]["status"], "ok") << doc["runs"][1]["failure_reason"];
  EXPECT_EQ(doc["aggregates"][0]["ok_repetitions"], 0);
  EXPECT_TRUE(doc["aggregates"][0]["metrics"]["requests_per_s"]["mean"].is_null());
  EXPECT_NE(o.err.find("FAILED: crash"), std::string::npos) << o.err;  // the plain per-run line
  // Every server had "cb-harness-<harness pid>-" on its command line, in
  // its --stats-file.
  std::string marker = "cb-harness-" + std::to_string(o.pid) + "-";
  EXPECT_TRUE(processes_mentioning(marker).empty());
  // Its scratch folders (docroot, counter files) are gone too.
  EXPECT_TRUE(entries_starting(scratch, marker).empty());
  EXPECT_TRUE(entries_starting("/dev/shm", marker).empty());
}

// A fake peer: a launcher script that keeps the peer contract
// (servers/peers/README.md) by exec'ing bench_server, with `extra` options.
void write_fake_peer(const std::string& dir, const std::string& name, const std::string& check_fails,
                     const std::string& extra) {
  std::string peer_dir = dir + "/" + name;
  ASSERT_EQ(::mkdir(peer_dir.c_str(), 0755), 0);
  std::string path = peer_dir + "/serve";
  std::ofstream(path) << "#!/usr/bin/env bash\n"
                         "proto=\"\" root=\"\" state=\"\" check=0\n"
                         "while [ $# -gt 0 ]; do case \"$1\" in\n"
                         "  --check) check=1; shift ;;\n"
                         "  --version) echo \"" << name << " 1.0\"; exit 0 ;;\n"
                         "  --proto) proto=$2; shift 2 ;; --root) root=$2; shift 2 ;;\n"
                         "  --state-dir) state=$2; shift 2 ;; *) shift 2 ;;\n"
                         "esac; done\n"
                      << (check_fails.empty() ? "" : "[ $check = 1 ] && { echo '" + check_fails + "'; exit 1; }\n")
                      << "[ $check = 1 ] && exit 0\n"
                         "echo \"worker_processes 1; # " << name << "\" > \"$state/" << name << ".conf\"\n"
                         "args=(--model process:fork --proto \"$proto\" --host 127.0.0.1 --port 0)\n"
                         "[ \"$proto\" = http ] && args+=(--root \"$root\")\n"
                         "exec " CB_BENCH_SERVER " \"${args[@]}\" " << extra << "\n";
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
}

TEST_F(HarnessE2E, PeersRunLikeModelsAreSkippedWhereMissingAndFailWhenTheyCrash) {
  // Three peers in this order: one that aborts mid-run, one that runs, one
  // whose runtime "is missing" (its check fails). `peer` names them all.
  std::string peers = tmp_.path() + "/peers";
  ASSERT_EQ(::mkdir(peers.c_str(), 0755), 0);
  write_fake_peer(peers, "crashy", "", "--crash-after 300");
  write_fake_peer(peers, "good", "", "");
  write_fake_peer(peers, "missing", "fakeruntime not installed (apt-get install fakeruntime)", "");
  json rows = json::array();
  for (const char* name : {"crashy", "good", "missing"}) {
    rows.push_back({{"name", name}, {"protocols", {"echo", "http"}}, {"summary", std::string("fake ") + name},
                    {"twin", nullptr}, {"needs", json::array()}, {"package", json::array()}, {"notes", ""}});
  }
  std::ofstream(peers + "/peers.json") << rows.dump(2);
  std::string matrix = write_matrix({{"models", {"peer"}},
                                     {"protos", {"http"}},
                                     {"connections", {10}},
                                     {"duration", "1s"},
                                     {"warmup", "200ms"}});
  std::string scratch = tmp_.path() + "/scratch";
  ASSERT_EQ(::mkdir(scratch.c_str(), 0755), 0);
  Outcome o = run({CB_HARNESS, "--profile", matrix, "--out", tmp_.path() + "/results", "--no-calibrate",
                   "--peers-dir", peers},
                  {"TMPDIR=" + scratch, "CI=true"});
  EXPECT_EQ(o.exit_code, 1) << o.err;  // the crashed run failed
  std::string dir = last_line(o.out);
  json doc = load_json(dir + "/results.json");
  ASSERT_EQ(doc["runs"].size(), 2u) << o.err;
  const json& crashed = doc["runs"][0];
  EXPECT_EQ(crashed["id"], "peer-crashy_http_c10_f1024_closed_r0");
  EXPECT_EQ(crashed["status"], "failed");
  std::string reason = crashed["failure_reason"].get<std::string>();
  EXPECT_EQ(reason.rfind("crash: server killed by SIGABRT", 0), 0u) << reason;
  const json& good = doc["runs"][1];
  EXPECT_EQ(good["id"], "peer-good_http_c10_f1024_closed_r0");
  EXPECT_EQ(good["status"], "ok") << good["failure_reason"];
  EXPECT_GT(good["requests_per_s"].get<double>(), 0);
  EXPECT_GT(good["server"]["cpu_us_per_request"].get<double>(), 0);  // sampled like a model
  // No counters block: every server counter is null.
  for (const auto& [name, value] : good["server_counters"].items()) EXPECT_TRUE(value.is_null()) << name;
  // Its generated configuration is kept with the results.
  ASSERT_EQ(good["peer_config_files"].size(), 1u);
  std::string conf = good["peer_config_files"][0].get<std::string>();
  EXPECT_EQ(conf, "runs/peer-good_http_c10_f1024_closed_r0.good.conf");
  std::ifstream saved(dir + "/" + conf);
  std::string text((std::istreambuf_iterator<char>(saved)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "worker_processes 1; # good\n");
  // The missing runtime: skipped with the line its check printed.
  const json& config = doc["config"];
  ASSERT_EQ(config["skipped"].size(), 1u);
  EXPECT_EQ(config["skipped"][0]["what"], "peer-missing_http_c10_f1024_closed");
  EXPECT_EQ(config["skipped"][0]["reason"], "fakeruntime not installed (apt-get install fakeruntime)");
  EXPECT_EQ(config["peers_dir"], peers);
  ASSERT_EQ(config["peers"].size(), 3u);
  EXPECT_EQ(config["peers"][1]["model"], "peer:good");
  EXPECT_EQ(config["peers"][1]["version"], "good 1.0");
  EXPECT_EQ(config["peers"][1]["check"]["http"], "ok");
  EXPECT_EQ(config["peers"][2]["check"]["http"], "fakeruntime not installed (apt-get install fakeruntime)");
  EXPECT_EQ(config["peers"][1]["row"]["summary"], "fake good");
  const json& last = config["registry"].back();
  EXPECT_EQ(last["name"], "peer");
  EXPECT_EQ(last["variant"], "missing");
  EXPECT_EQ(last["peer"], true);
  // Nothing of the peers is left running (their docroot was in the
  // harness's scratch folder, "cb-harness-<pid>-...") nor their state dirs.
  std::string marker = "cb-harness-" + std::to_string(o.pid) + "-";
  EXPECT_TRUE(processes_mentioning(marker).empty());
  EXPECT_TRUE(entries_starting(scratch, marker).empty());
  // A peers dir without peers.json is a usage error.
  Outcome bad = run({CB_HARNESS, "--models", "peer:good", "--protos", "http", "--no-calibrate", "--peers-dir",
                     tmp_.path() + "/nowhere", "--out", tmp_.path() + "/results"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("no peers.json"), std::string::npos) << bad.err;
}

TEST_F(HarnessE2E, ServiceCellRunsItsOwnBackend) {
  std::string matrix = write_matrix({{"models", {"reactor:epoll"}},
                                     {"protos", {"http"}},
                                     {"connections", {10}},
                                     {"workloads", {"app:calls=1&delay_us=1000"}},
                                     {"duration", "1s"},
                                     {"warmup", "300ms"}});
  Outcome o = run({CB_HARNESS, "--profile", matrix, "--out", tmp_.path() + "/results", "--no-calibrate"},
                  {"CI=true"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  json doc = load_json(last_line(o.out) + "/results.json");
  Schema schema = read_schema(CB_RESULTS_README);
  std::map<std::string, KeyDoc> run_docs = schema.cell;
  run_docs.insert(schema.run.begin(), schema.run.end());
  ASSERT_EQ(doc["runs"].size(), 1u);
  const json& r = doc["runs"][0];
  check_object(r, run_docs, "runs[service]");
  EXPECT_EQ(r["status"], "ok") << r["failure_reason"];
  EXPECT_EQ(r["id"], "reactor-epoll_http_c10_app-calls1-delay_us1000_closed_r0");
  EXPECT_EQ(r["workload"], "app:calls=1&delay_us=1000");
  EXPECT_TRUE(r["file_size_bytes"].is_null());
  // The backend ran, answered the server's calls and printed its counters
  // when stopped; the server made one call per /app request.
  const json& calls = r["server_counters"]["backend_calls"];
  ASSERT_TRUE(calls.is_number_integer()) << r.dump();
  EXPECT_GT(calls.get<uint64_t>(), 0u);
  EXPECT_EQ(r["backend"]["replies"], calls) << r["backend"].dump();
  EXPECT_EQ(r["backend"]["requests"], calls) << r["backend"].dump();
  EXPECT_EQ(r["backend"]["errors"], 0);
  EXPECT_TRUE(r["backend"]["cpu_s"].is_number()) << r["backend"].dump();
  EXPECT_EQ(r["server_counters"]["app_requests"], calls);
  EXPECT_EQ(r["server_counters"]["backend_errors_io"], 0);
  EXPECT_EQ(r["server_counters"]["backend_unconfigured"], 0);
  EXPECT_GE(calls.get<double>(), r["requests"].get<double>());
  // ~1 ms per request on 10 connections: at most 10,000/s.
  EXPECT_LT(r["requests_per_s"].get<double>(), 10'000.0 * 1.05);
  EXPECT_EQ(doc["aggregates"][0]["workload"], "app:calls=1&delay_us=1000");
  EXPECT_TRUE(doc["context"]["backend_cpus"].is_array());
  EXPECT_TRUE(processes_mentioning(CB_BENCH_BACKEND).empty());
}

TEST_F(HarnessE2E, ABackendThatFailsFailsItsRunOnly) {
  std::string matrix = write_matrix({{"models", {"reactor:epoll"}},
                                     {"protos", {"http"}},
                                     {"connections", {5}},
                                     {"workloads", {"app:calls=1&delay_us=10", "file:1KiB"}},
                                     {"duration", "500ms"},
                                     {"warmup", "100ms"}});
  Outcome o = run({CB_HARNESS, "--profile", matrix, "--out", tmp_.path() + "/results", "--no-calibrate",
                   "--backend", "/bin/false"},
                  {"CI=true"});
  EXPECT_EQ(o.exit_code, 1) << o.err;
  json doc = load_json(last_line(o.out) + "/results.json");
  ASSERT_EQ(doc["runs"].size(), 2u);
  EXPECT_EQ(doc["runs"][0]["status"], "failed");
  std::string reason = doc["runs"][0]["failure_reason"].get<std::string>();
  EXPECT_EQ(reason.rfind("backend: ", 0), 0u) << reason;
  EXPECT_EQ(doc["runs"][1]["status"], "ok") << doc["runs"][1]["failure_reason"];
}

// A disk cell under a memory limit: the data set is made in --dataset-dir,
// evicted, read from the device, and the server's page cache stays under its
// limit; the "80%" cell runs open loop at 80% of the closed loop's rate.
TEST_F(HarnessE2E, DiskCellReadsItsDataSetUnderAMemoryLimit) {
  if (auto why = MemoryCgroup::unavailable()) GTEST_SKIP() << "no memory cgroup here: " << *why;
  char tmpl[] = "/var/tmp/cb-e2e-datasets-XXXXXX";  // on a disk: tmpfs is refused
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string datasets = tmpl;
  // A sanitizer's shadow memory and quarantine would fill 32 MiB by
  // themselves (the OOM killer ended an ASan server there): the limit is
  // larger under one, and the 64 MiB set then fits in it.
#if defined(CB_ASAN) || defined(CB_TSAN)
  constexpr uint64_t kLimit = 256ull << 20;
  const char* limit_text = "256MiB";
#else
  constexpr uint64_t kLimit = 32ull << 20;
  const char* limit_text = "32MiB";
#endif
  std::string matrix = write_matrix({{"models", {"reactor:offload"}},
                                     {"protos", {"http"}},
                                     {"connections", {10}},
                                     {"server_memory", limit_text},
                                     {"workloads", {"disk:files=4096&size=16KiB&zipf=0.8"}},
                                     {"rates_per_s", {0, "80%"}},
                                     {"duration", "1s"},
                                     {"warmup", "200ms"}});
  Outcome o = run({CB_HARNESS, "--profile", matrix, "--out", tmp_.path() + "/results", "--dataset-dir", datasets},
                  {"CI=true"});
  remove_tree(datasets);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  json doc = load_json(last_line(o.out) + "/results.json");
  Schema schema = read_schema(CB_RESULTS_README);
  std::map<std::string, KeyDoc> run_docs = schema.cell;
  run_docs.insert(schema.run.begin(), schema.run.end());
  check_object(doc["context"], schema.context, "context", {"git.commit", "git.dirty"});
  const json& cal = doc["context"]["calibration"];
  ASSERT_TRUE(cal["disk_random_read_4k_us"].is_number()) << cal.dump();
  EXPECT_GT(cal["disk_random_read_4k_us"].get<double>(), 0.0);
  EXPECT_GE(cal["disk_random_read_4k_p90_us"].get<double>(), cal["disk_random_read_4k_us"].get<double>());
  ASSERT_EQ(doc["runs"].size(), 2u);
  const json& closed = doc["runs"][0];
  const json& share = doc["runs"][1];
  for (const json& r : doc["runs"]) {
    check_object(r, run_docs, "runs[" + r["id"].get<std::string>() + "]");
    ASSERT_EQ(r["status"], "ok") << r["failure_reason"];
    EXPECT_EQ(r["server_memory_bytes"], kLimit);
    const json& d = r["disk"];
    EXPECT_EQ(d["dataset"], "n4096-s16384");
    EXPECT_EQ(d["dataset_files"], 4096);
    EXPECT_EQ(d["dataset_bytes"], 64u << 20);
    EXPECT_DOUBLE_EQ(d["dataset_to_memory_ratio"].get<double>(), static_cast<double>(64ull << 20) / kLimit);
    EXPECT_EQ(d["resident_after_eviction_ratio"], 0.0) << "the eviction left pages cached";
    for (const char* key : {"read_bytes", "read_bytes_per_request", "page_cache_hit_ratio", "read_bytes_server_life"}) {
      ASSERT_TRUE(d[key].is_number()) << key << " " << r.dump();
    }
    EXPECT_GT(d["read_bytes"].get<uint64_t>(), 0u) << "a cold data set was served without reading the disk";
    EXPECT_GE(d["read_bytes_server_life"].get<uint64_t>(), d["read_bytes"].get<uint64_t>() / 2);
    double hit = d["page_cache_hit_ratio"].get<double>();
    EXPECT_GE(hit, 0.0);
    EXPECT_LE(hit, 1.0);
    EXPECT_NEAR(d["read_bytes_per_request"].get<double>(),
                d["read_bytes"].get<double>() / r["requests"].get<double>(), 1e-6 * d["read_bytes"].get<double>());
    const json& m = r["memory_cgroup"];
    EXPECT_EQ(m["limit_bytes"], kLimit);
    ASSERT_TRUE(m["cache_bytes_at_end"].is_number()) << m.dump();
    EXPECT_LE(m["cache_bytes_at_end"].get<uint64_t>(), kLimit);
    if (m["peak_bytes"].is_number()) {
      EXPECT_LE(m["peak_bytes"].get<uint64_t>(), kLimit);
    }
    EXPECT_TRUE(r["classes"].is_array() && r["classes"].size() == 1u) << "one latency class for 4096 paths";
    // Cold files went to the helpers, cached ones stayed on the loop.
    EXPECT_GT(r["server_counters"]["offload_jobs"].get<uint64_t>(), 0u) << r["server_counters"].dump();
    EXPECT_GT(r["server_counters"]["offload_resident_hits"].get<uint64_t>(), 0u) << r["server_counters"].dump();
    EXPECT_EQ(r["server_counters"]["uring_file_reads"], 0);
  }
  EXPECT_EQ(closed["load"], "closed");
  EXPECT_EQ(share["id"], std::string("reactor-offload_http_c10_disk-files4096-size16KiB-zipf0.8_mem") + limit_text +
                             "_open80pct_r0");
  EXPECT_EQ(share["load"], "open");
  EXPECT_DOUBLE_EQ(share["rate_of_capacity"].get<double>(), 0.8);
  EXPECT_NEAR(share["rate_per_s"].get<double>(), 0.8 * closed["requests_per_s"].get<double>(), 1e-6);
  // No cgroup of this harness is left behind.
  CgroupLocation loc = locate_memory_cgroup();
  EXPECT_TRUE(entries_starting(loc.dir, "cb-harness-" + std::to_string(o.pid) + "-").empty());
}

// Where no memory cgroup can be made, the cells with a limit are skipped
// with the reason and the others run.
TEST_F(HarnessE2E, CellsWithAMemoryLimitAreSkippedWhereNoCgroupCanBeMade) {
  std::string matrix = write_matrix({{"models", {"reactor:epoll"}},
                                     {"protos", {"echo"}},
                                     {"connections", {5}},
                                     {"duration", "300ms"},
                                     {"warmup", "0s"},
                                     {"extra", {{{"server_memory", "64MiB"}, {"connections", {6}}}}}});
  Outcome o = run({CB_HARNESS, "--profile", matrix, "--out", tmp_.path() + "/results", "--no-calibrate",
                   "--cgroup-parent", "/nonexistent/cgroup"},
                  {"CI=true"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  json doc = load_json(last_line(o.out) + "/results.json");
  ASSERT_EQ(doc["runs"].size(), 1u);
  EXPECT_EQ(doc["runs"][0]["id"], "reactor-epoll_echo_c5_m64_closed_r0");
  ASSERT_EQ(doc["config"]["skipped"].size(), 1u);
  const json& skipped = doc["config"]["skipped"][0];
  EXPECT_EQ(skipped["what"], "reactor-epoll_echo_c6_m64_mem64MiB_closed");
  EXPECT_NE(skipped["reason"].get<std::string>().find("/nonexistent/cgroup"), std::string::npos) << skipped.dump();
  EXPECT_NE(o.err.find("skipped reactor-epoll_echo_c6_m64_mem64MiB_closed"), std::string::npos) << o.err;
  // All of them skipped: a usage error that says why.
  Outcome none = run({CB_HARNESS, "--models", "reactor:epoll", "--protos", "echo", "--connections", "5",
                      "--server-memory", "64MiB", "--cgroup-parent", "/nonexistent/cgroup", "--dry-run"},
                     {"CI=true"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("/nonexistent/cgroup"), std::string::npos) << none.err;
}

TEST_F(HarnessE2E, BadCommandLinesExitTwoWithOneLine) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--connections", "many"},
           {"--profile", "nosuch"},
           {"--models", "nosuch"},
           {"--duration", "fast"},
           {"--server-cpus", "999"},
           {"--no-such-option"},
           {"--server", "/nonexistent"},
           {"--run-info", "/nonexistent/run-info"},
           {"--workloads", "app:nope=1"},
           {"--workloads", "app:calls=1&calls=1"},
           {"--workloads", "mix:none"},
           {"--workloads", "file:0"},
           {"--backend-cpus", "999"}}) {
    args.insert(args.begin(), CB_HARNESS);
    Outcome o = run(args);
    EXPECT_EQ(o.exit_code, 2) << args[1] << ": " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << args[1] << ": " << o.err;
    EXPECT_TRUE(o.out.empty()) << o.out;
  }
}

}  // namespace
}  // namespace cb::harness
