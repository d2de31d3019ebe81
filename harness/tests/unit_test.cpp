// unit_test.cpp: the harness's pieces on their own: /proc parsing, the
// matrix (profiles, model tokens, overrides, expansion), the statistics and
// results files, and the window arithmetic of the sampler on synthetic
// samples (exited threads, reaped children).
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client_hosts.h"
#include "confidence.h"
#include "listening_line.h"
#include "matrix.h"
#include "noise.h"
#include "peers.h"
#include "procfs.h"
#include "remote_load.h"
#include "results.h"
#include "runner.h"
#include "sampler.h"
#include "workspace.h"

namespace cb::harness {
namespace {

// ---- procfs -----------------------------------------------------------------

TEST(Procfs, ParsesStatWithAwkwardCommand) {
  // comm holds spaces and a ") " that must not end it; utime is field 14,
  // stime 15, num_threads 20.
  std::string line =
      "1234 (we) S (ird) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 130 7 9 20 0 3 0 12345 "
      "1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  auto st = procfs::parse_stat(line);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->pid, 1234);
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->pgrp, 1234);
  EXPECT_EQ(st->utime_ticks, 250u);
  EXPECT_EQ(st->stime_ticks, 130u);
  EXPECT_EQ(st->num_threads, 3);
}

TEST(Procfs, RefusesTruncatedStat) {
  EXPECT_FALSE(procfs::parse_stat("1234 (x) S 1 2").has_value());
  EXPECT_FALSE(procfs::parse_stat("garbage").has_value());
}

TEST(Procfs, ParsesPssAndContextSwitches) {
  EXPECT_EQ(procfs::parse_pss_kb("Rss:  900 kB\nPss_Anon: 5 kB\nPss:    1234 kB\n"), 1234u);
  EXPECT_FALSE(procfs::parse_pss_kb("Rss: 900 kB\n").has_value());
  auto cs = procfs::parse_context_switches(
      "Name:\tx\nvoluntary_ctxt_switches:\t42\nnonvoluntary_ctxt_switches:\t7\n");
  ASSERT_TRUE(cs.has_value());
  EXPECT_EQ(cs->voluntary, 42u);
  EXPECT_EQ(cs->involuntary, 7u);
}

TEST(Procfs, ReadsThisProcess) {
  auto st = procfs::read_stat(::getpid());
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->ppid, ::getppid());
  EXPECT_GE(st->num_threads, 1);
  EXPECT_TRUE(procfs::read_pss_kb(::getpid()).value_or(0) > 0);
  auto tasks = procfs::list_tasks(::getpid());
  EXPECT_EQ(static_cast<int64_t>(tasks.size()), st->num_threads);
}

TEST(Procfs, TreeHoldsChildrenAndGrandchildren) {
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(gate[1]);
    if (::fork() == 0) {  // the grandchild waits on the same pipe
      char c;
      (void)!::read(gate[0], &c, 1);
      ::_exit(0);
    }
    char c;
    (void)!::read(gate[0], &c, 1);
    ::wait(nullptr);
    ::_exit(0);
  }
  ::close(gate[0]);
  std::vector<procfs::ProcStat> tree;
  for (int i = 0; i < 500 && tree.size() < 3; ++i) {
    tree = procfs::process_tree(::getpid());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::close(gate[1]);  // both read EOF and exit
  ::waitpid(child, nullptr, 0);
  ASSERT_EQ(tree.size(), 3u);
  EXPECT_EQ(tree[0].pid, ::getpid());
  EXPECT_EQ(tree[1].pid, child);
  EXPECT_EQ(tree[2].ppid, child);
}

// ---- matrix -----------------------------------------------------------------

// ---- listening line ---------------------------------------------------------

TEST(ListeningLine, ParsesEveryField) {
  auto l = listening::parse("listening 127.0.0.1:40123 model=reactor:epoll proto=http pid=4242");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->host, "127.0.0.1");
  EXPECT_EQ(l->port, 40123);
  EXPECT_EQ(l->model, "reactor:epoll");
  EXPECT_EQ(l->proto, "http");
  EXPECT_EQ(l->pid, 4242);
}

TEST(ListeningLine, NeedsOnlyTheAddress) {
  auto l = listening::parse("listening ::1:8080");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->host, "::1");  // the last colon splits host and port
  EXPECT_EQ(l->port, 8080);
  EXPECT_EQ(l->model, "");
  auto extra = listening::parse("listening 127.0.0.1:9 future=field model=a:b");
  ASSERT_TRUE(extra);
  EXPECT_EQ(extra->model, "a:b");
}

TEST(ListeningLine, RejectsOtherLines) {
  EXPECT_FALSE(listening::parse("counters {}"));
  EXPECT_FALSE(listening::parse("listening"));
  EXPECT_FALSE(listening::parse("listening 127.0.0.1 model=x"));
  EXPECT_FALSE(listening::parse("listening 127.0.0.1:0 model=x"));
  EXPECT_FALSE(listening::parse("listening 127.0.0.1:70000"));
  EXPECT_FALSE(listening::parse("listening 127.0.0.1:12ab"));
  EXPECT_FALSE(listening::parse(" listening 127.0.0.1:80"));
}

TEST(ListeningLine, FindsOnlyACompleteLine) {
  EXPECT_FALSE(listening::find(""));
  EXPECT_FALSE(listening::find("listening 127.0.0.1:80 model=a:b"));  // no newline yet
  auto l = listening::find("warming up\nlistening 127.0.0.1:80 model=a:b proto=echo pid=1\nmore");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->port, 80);
  EXPECT_EQ(l->proto, "echo");
}

// What `bench_server --list-models --json` prints, cut down.
const char* kModelJson = R"json([
  {"name": "process", "variant": "fork", "default": true, "summary": "fork per connection",
   "supported": true, "why_not": null},
  {"name": "process", "variant": "prefork", "default": false, "summary": "N workers",
   "supported": true, "why_not": null},
  {"name": "reactor", "variant": "epoll", "default": true, "summary": "one thread, epoll",
   "supported": true, "why_not": null},
  {"name": "reactor", "variant": "poll", "default": false, "summary": "one thread, poll(2)",
   "supported": true, "why_not": null},
  {"name": "reactor", "variant": "uring", "default": false, "summary": "io_uring",
   "supported": false, "why_not": "kernel lacks io_uring"}
])json";

std::vector<ModelVariant> registry() { return parse_model_json(kModelJson); }

std::vector<std::string> keys(const Expanded& e) {
  std::vector<std::string> out;
  for (const Cell& c : e.cells) out.push_back(c.key());
  return out;
}

// The registry with two peers as peers.json and check_peers would give
// them: "web" serves http only, "ech" could serve both but its echo check
// failed here.
std::vector<ModelVariant> registry_with_peers(TempDir& tmp) {
  std::ofstream(tmp.path() + "/peers.json") << R"([
    {"name": "web", "protocols": ["http"], "summary": "a web server", "twin": "reactor:epoll",
     "needs": ["web"], "package": ["web"], "notes": ""},
    {"name": "ech", "protocols": ["echo", "http"], "summary": "an echo server", "twin": null,
     "needs": [], "package": [], "notes": ""}])";
  std::vector<Peer> peers = load_peers(tmp.path());
  peers[0].unavailable["echo"] = "peer:web serves http only";
  peers[1].unavailable["echo"] = "ech not installed (apt-get install ech)";
  std::vector<ModelVariant> r = registry();
  for (ModelVariant& m : peer_models(peers)) r.push_back(m);
  return r;
}

TEST(Matrix, ParsesTheModelJson) {
  auto r = registry();
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].spec(), "process:fork");
  EXPECT_TRUE(r[0].is_default);
  EXPECT_EQ(r[0].summary, "fork per connection");
  EXPECT_FALSE(r[1].is_default);
  EXPECT_TRUE(r[3].supported);
  EXPECT_FALSE(r[4].supported);
  EXPECT_EQ(r[4].why_unsupported, "kernel lacks io_uring");
  // Fields are read by name: their order and extra fields do not matter.
  auto reordered = parse_model_json(
      R"([{"supported": true, "extra": 1, "default": false, "variant": "v", "name": "n"}])");
  ASSERT_EQ(reordered.size(), 1u);
  EXPECT_EQ(reordered[0].spec(), "n:v");
  EXPECT_THROW(parse_model_json("MODEL VARIANT DEFAULT DESCRIPTION\n"), std::invalid_argument);
  EXPECT_THROW(parse_model_json("[]"), std::invalid_argument);
  EXPECT_THROW(parse_model_json(R"([{"name": "n", "default": true, "supported": true}])"),
               std::invalid_argument);
  EXPECT_THROW(parse_model_json(R"([{"name": "n", "variant": "v", "default": "yes", "supported": true}])"),
               std::invalid_argument);
}

TEST(Matrix, ModelJsonRoundTrips) {
  auto back = parse_model_json(models_to_json(registry()).dump());
  ASSERT_EQ(back.size(), 5u);
  EXPECT_EQ(back[4].spec(), "reactor:uring");
  EXPECT_FALSE(back[4].supported);
  EXPECT_EQ(back[4].why_unsupported, "kernel lacks io_uring");
  EXPECT_EQ(back[2].summary, "one thread, epoll");
}

TEST(Matrix, CellKeysAreStable) {
  Cell c;
  c.model = "reactor";
  c.variant = "epoll";
  c.proto = "echo";
  c.connections = 100;
  c.msg_size_bytes = 64;
  EXPECT_EQ(c.run_id(0), "reactor-epoll_echo_c100_m64_closed_r0");
  c.rate_per_s = 5000;
  EXPECT_EQ(c.key(), "reactor-epoll_echo_c100_m64_open5000");
  auto j = c.to_json();
  EXPECT_EQ(j["load"], "open");
  EXPECT_EQ(j["rate_per_s"], 5000.0);
  EXPECT_TRUE(j["file_size_bytes"].is_null());
}

TEST(Matrix, QuickProfileTakesDefaultVariants) {
  Matrix m = load_matrix("quick");
  Expanded e = expand(m, registry());
  // process:fork and reactor:epoll x echo,http x 3 connection counts, and
  // one service cell each.
  ASSERT_EQ(e.cells.size(), 14u);
  EXPECT_EQ(e.cells[0].key(), "process-fork_echo_c10_m64_closed");
  EXPECT_EQ(e.cells[3].key(), "process-fork_http_c10_f1024_closed");
  EXPECT_EQ(e.cells[12].key(), "process-fork_http_c1000_app-calls1-delay_us10000_closed");
  EXPECT_TRUE(e.cells[12].needs_backend());
  EXPECT_EQ(m.repeat, 1);
  EXPECT_TRUE(e.skipped.empty());
  EXPECT_FALSE(m.microbench);
}

// The profile itself says whether ./run_all.sh adds the micro-benchmarks.
TEST(Matrix, MicrobenchIsTheProfilesOwnField) {
  EXPECT_TRUE(load_matrix("full").microbench);
  EXPECT_FALSE(parse_matrix(nlohmann::json{{"models", {"all"}}}, "x").microbench);
  EXPECT_TRUE(parse_matrix(nlohmann::json{{"models", {"all"}}, {"microbench", true}}, "x").microbench);
  EXPECT_THROW(parse_matrix(nlohmann::json{{"models", {"all"}}, {"microbench", "yes"}}, "x"),
               std::invalid_argument);
}

TEST(Matrix, FullProfileTakesEveryVariantAndSkipsUnsupported) {
  TempDir tmp("harness-unit-");
  Matrix m = load_matrix("full");
  Expanded e = expand(m, registry_with_peers(tmp));
  ASSERT_EQ(e.skipped.size(), 5u);  // reactor:uring, each peer's echo at 100 and 1000
  EXPECT_EQ(e.skipped[0].what, "reactor:uring");
  int open_cells = 0, peer_cells = 0;
  for (const Cell& c : e.cells) {
    open_cells += c.open_loop() ? 1 : 0;
    peer_cells += c.model == "peer" ? 1 : 0;
  }
  EXPECT_EQ(open_cells, 4);  // 2 default variants x 2 rates
  EXPECT_EQ(peer_cells, 4);  // 2 peers x http x 100, 1000 connections
  EXPECT_EQ(m.repeat, 3);
}

TEST(Matrix, PeersProfileHasEveryDefaultAndPeerClosedAndOpenLoop) {
  TempDir tmp("harness-unit-");
  Expanded e = expand(load_matrix("peers"), registry_with_peers(tmp));
  // 2 default models x 2 protocols + 2 http-only peers, x 2 counts x 2 loads.
  EXPECT_EQ(e.cells.size(), (2u * 2 + 2) * 2 * 2);
  for (const Cell& c : e.cells) {
    if (c.rate_of_capacity) {
      EXPECT_DOUBLE_EQ(*c.rate_of_capacity, 0.8);
    }
  }
  EXPECT_THROW(parse_matrix(nlohmann::json::parse(R"({"models":["all"],"peers":"yes"})"), "f"), std::invalid_argument);
}

TEST(Matrix, ModelTokensAndOverrides) {
  Matrix full = load_matrix("full");
  Overrides o;
  o.protos = std::vector<std::string>{"echo"};
  o.connections = std::vector<int>{10};
  o.rates = std::vector<double>{0};
  o.msg_sizes = std::vector<uint64_t>{64};
  o.file_sizes = std::vector<uint64_t>{1024};
  apply_overrides(full, o);
  // In `full`, a bare name keeps all its (supported) variants.
  TempDir tmp("harness-unit-");
  auto e = expand(full, registry_with_peers(tmp), std::vector<std::string>{"reactor"});
  EXPECT_EQ(keys(e), (std::vector<std::string>{"reactor-epoll_echo_c10_m64_closed",
                                                "reactor-poll_echo_c10_m64_closed"}));
  Matrix quick = load_matrix("quick");
  apply_overrides(quick, o);
  e = expand(quick, registry(), std::vector<std::string>{"reactor", "process:prefork"});
  EXPECT_EQ(keys(e), (std::vector<std::string>{"process-prefork_echo_c10_m64_closed",
                                                "reactor-epoll_echo_c10_m64_closed"}));
  e = expand(quick, registry(), std::vector<std::string>{"process:*"});
  EXPECT_EQ(e.cells.size(), 2u);
  EXPECT_THROW(expand(quick, registry(), std::vector<std::string>{"bogus"}), std::invalid_argument);
  EXPECT_THROW(expand(quick, registry(), std::vector<std::string>{"reactor:bogus"}), std::invalid_argument);
}

TEST(Peers, TokensSelectPeersAndChecksSkipTheirCells) {
  TempDir tmp("harness-unit-");
  std::vector<ModelVariant> reg = registry_with_peers(tmp);
  auto m = parse_matrix(nlohmann::json::parse(R"({"models":["defaults"],"protos":["echo","http"],
      "connections":[10],"workloads":["file:1KiB","app:calls=1&delay_us=10"]})"), "f");
  // all and defaults are the models; `peer` every peer; peer:NAME one.
  for (const char* token : {"all", "defaults"}) {
    for (const Cell& c : expand(m, reg, std::vector<std::string>{token}).cells) EXPECT_NE(c.model, "peer") << token;
  }
  Expanded e = expand(m, reg, std::vector<std::string>{"peer"});
  EXPECT_EQ(keys(e), (std::vector<std::string>{"peer-web_http_c10_f1024_closed", "peer-ech_http_c10_f1024_closed"}));
  // Echo refused by each check, /app not a peer's: listed with the reasons.
  std::map<std::string, std::string> skipped;
  for (const Skipped& s : e.skipped) skipped[s.what] = s.reason;
  EXPECT_EQ(skipped.size(), 4u);
  EXPECT_EQ(skipped["peer-web_echo_c10_m64_closed"], "peer:web serves http only");
  EXPECT_EQ(skipped["peer-ech_echo_c10_m64_closed"], "ech not installed (apt-get install ech)");
  EXPECT_NE(skipped["peer-ech_http_c10_app-calls1-delay_us10_closed"].find("/app"), std::string::npos);
  e = expand(m, reg, std::vector<std::string>{"peer:ech", "reactor"});
  EXPECT_EQ(keys(e), (std::vector<std::string>{"reactor-epoll_echo_c10_m64_closed", "reactor-epoll_http_c10_f1024_closed",
                                                "reactor-epoll_http_c10_app-calls1-delay_us10_closed",
                                                "peer-ech_http_c10_f1024_closed"}));
  EXPECT_EQ(expand(m, reg, std::vector<std::string>{"peer:*"}).cells.size(), 2u);
  EXPECT_THROW(expand(m, reg, std::vector<std::string>{"peer:nosuch"}), std::invalid_argument);
  EXPECT_THROW(expand(m, registry(), std::vector<std::string>{"peer"}), std::invalid_argument);
  EXPECT_TRUE(names_a_peer({"reactor", "peer:web"}));
  EXPECT_TRUE(names_a_peer({"peer"}));
  EXPECT_FALSE(names_a_peer({"reactor", "peers", "all"}));
  // The registry rows say they are peers.
  nlohmann::ordered_json rows = models_to_json(reg);
  EXPECT_EQ(rows.back()["name"], "peer");
  EXPECT_EQ(rows.back()["variant"], "ech");
  EXPECT_EQ(rows.back()["peer"], true);
  EXPECT_EQ(rows.front()["peer"], false);
}

TEST(Peers, PeersJsonIsChecked) {
  TempDir tmp("harness-unit-");
  EXPECT_THROW(load_peers(tmp.path()), std::invalid_argument);  // no peers.json
  for (const char* text : {"{}", "[]", R"([{"name":"a","summary":"s"}])",
                           R"([{"name":"a","summary":"s","protocols":["ftp"]}])",
                           R"([{"name":"a:b","summary":"s","protocols":["http"]}])",
                           R"([{"name":"a","summary":"s","protocols":["http"]},{"name":"a","summary":"t","protocols":["http"]}])"}) {
    std::ofstream(tmp.path() + "/peers.json") << text;
    EXPECT_THROW(load_peers(tmp.path()), std::invalid_argument) << text;
  }
  std::ofstream(tmp.path() + "/peers.json") << R"([{"name":"a","summary":"s","protocols":["http"],"twin":null}])";
  std::vector<Peer> peers = load_peers(tmp.path());
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].launcher, tmp.path() + "/a/serve");
  // No launcher: both protocols unavailable, with the reason.
  check_peers(peers);
  EXPECT_EQ(peers[0].unavailable["echo"], "peer:a serves http only");
  EXPECT_NE(peers[0].unavailable["http"].find("not an executable"), std::string::npos);
  EXPECT_FALSE(peers[0].version);
  EXPECT_EQ(peer_command("/p/a/serve", "http", "/root", 2, "/state", "/bin", "127.0.0.1"),
            (std::vector<std::string>{"/p/a/serve", "--proto", "http", "--host", "127.0.0.1", "--port", "0", "--root",
                                      "/root", "--workers", "2", "--state-dir", "/state", "--bin-dir", "/bin"}));
  // Only *.conf files of the state dir are kept.
  std::ofstream(tmp.path() + "/x.conf") << "conf";
  std::ofstream(tmp.path() + "/x.pid") << "1";
  auto files = peer_config_files(tmp.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], (std::pair<std::string, std::string>{"x.conf", "conf"}));
}

TEST(Matrix, MatrixFileKeysAreChecked) {
  using nlohmann::json;
  EXPECT_THROW(parse_matrix(json::parse(R"({"models":["all"],"conections":[1]})"), "f"), std::invalid_argument);
  EXPECT_THROW(parse_matrix(json::parse(R"({"protos":["echo"]})"), "f"), std::invalid_argument);
  EXPECT_THROW(parse_matrix(json::parse(R"({"models":["all"],"duration":"fast"})"), "f"), std::invalid_argument);
  EXPECT_THROW(parse_matrix(json::parse(R"({"models":["all"],"connections":[0]})"), "f"), std::invalid_argument);
  Matrix m = parse_matrix(json::parse(R"({"models":["reactor:poll"],"protos":["http"],
      "connections":["1k"],"file_sizes":["64KiB"],"duration":"2s","warmup":"500ms",
      "max_connections":{"reactor:poll":100},
      "extra":[{"connections":[50],"server_args":["--workers","2"]}]})"), "f");
  Expanded e = expand(m, registry());
  ASSERT_EQ(e.cells.size(), 1u);
  EXPECT_EQ(e.cells[0].key(), "reactor-poll_http_c50_f65536_workers-2_closed");
  EXPECT_EQ(e.cells[0].server_args, (std::vector<std::string>{"--workers", "2"}));
  ASSERT_EQ(e.skipped.size(), 1u);
  EXPECT_EQ(e.skipped[0].what, "reactor-poll_http_c1000_f65536_closed");
  EXPECT_EQ(m.duration, std::chrono::seconds(2));
  EXPECT_EQ(m.warmup, std::chrono::milliseconds(500));
  EXPECT_THROW(expand(parse_matrix(json::parse(R"({"models":["all"],"protos":["ftp"]})"), "f"), registry()),
               std::invalid_argument);
}

TEST(Matrix, Lists) {
  EXPECT_EQ(parse_connection_list("10,100, 1k"), (std::vector<int>{10, 100, 1000}));
  EXPECT_EQ(parse_size_list("64,1KiB"), (std::vector<uint64_t>{64, 1024}));
  EXPECT_EQ(parse_rate_list("closed,10k"), (std::vector<double>{0, 10000}));
  EXPECT_THROW(parse_connection_list("10,,20"), std::invalid_argument);
  EXPECT_THROW(parse_connection_list("ten"), std::invalid_argument);
}

// ---- workloads ---------------------------------------------------------------

TEST(Workload, ParsesTheThreeKinds) {
  Mixes mixes = parse_mixes(nlohmann::json::parse(
      R"({"tail": [{"path": "/app?cpu_us=0", "weight": 95}, {"path": "/app?cpu_us=20000&calls=1", "weight": 5}]})"));
  Workload f = parse_workload("file:1KiB", mixes);
  EXPECT_EQ(f.kind, Workload::Kind::kFile);
  EXPECT_EQ(f.file_size, 1024u);
  EXPECT_EQ(f.spec, "file:1KiB");
  EXPECT_EQ(f.key_part(), "f1024");
  EXPECT_FALSE(f.makes_calls());
  ASSERT_EQ(f.paths.size(), 1u);
  EXPECT_EQ(f.paths[0].path, "/f1024.bin");

  Workload a = parse_workload("app:delay_us=10000&calls=1", mixes);
  EXPECT_EQ(a.kind, Workload::Kind::kApp);
  EXPECT_EQ(a.spec, "app:delay_us=10000&calls=1");
  EXPECT_EQ(a.key_part(), "app-delay_us10000-calls1");
  EXPECT_TRUE(a.makes_calls());
  EXPECT_EQ(a.paths, (std::vector<WeightedPath>{{"/app?delay_us=10000&calls=1", 1}}));
  EXPECT_FALSE(parse_workload("app:cpu_us=100&calls=0", mixes).makes_calls());
  EXPECT_EQ(parse_workload("app:", mixes).paths[0].path, "/app?");

  Workload m = parse_workload("mix:tail", mixes);
  EXPECT_EQ(m.kind, Workload::Kind::kMix);
  EXPECT_EQ(m.key_part(), "mix-tail");
  EXPECT_TRUE(m.makes_calls());  // its heavy path calls
  ASSERT_EQ(m.paths.size(), 2u);
  EXPECT_EQ(m.paths[1].weight, 5u);

  AppQuery q = parse_app_query("cpu_us=1&calls=2&delay_us=3&bytes=4");
  EXPECT_EQ(q.cpu_us + q.calls * 10 + q.delay_us * 100 + q.bytes * 1000, 4321u);
}

TEST(Workload, BadFormsSayWhyInOneLine) {
  Mixes mixes;
  for (const char* text : {"file", "file:0", "file:huge", "ftp:1KiB", "app:delay=10", "app:calls=1&calls=2",
                           "app:calls=-1", "app:calls=1x", "app:calls=", "app:&calls=1", "app:calls=101",
                           "app:delay_us=10000001", "app:cpu_us=%31", "mix:none", ":x"}) {
    try {
      parse_workload(text, mixes);
      ADD_FAILURE() << text << " parsed";
    } catch (const std::invalid_argument& e) {
      std::string why = e.what();
      EXPECT_EQ(why.find('\n'), std::string::npos) << why;
      EXPECT_FALSE(why.empty());
    }
  }
  using nlohmann::json;
  for (const char* bad : {R"([])", R"({"a b": [{"path": "/"}]})", R"({"m": []})", R"({"m": [{"weight": 1}]})",
                          R"({"m": [{"path": "x"}]})", R"({"m": [{"path": "/a b"}]})",
                          R"({"m": [{"path": "/", "weight": 0}]})", R"({"m": [{"path": "/app?nope=1"}]})",
                          R"({"m": [{"path": "/", "color": 1}]})"}) {
    EXPECT_THROW(parse_mixes(json::parse(bad)), std::invalid_argument) << bad;
  }
}

TEST(Workload, MatrixWorkloadsMixesAndOverrides) {
  using nlohmann::json;
  Matrix m = parse_matrix(json::parse(R"({"models":["reactor:epoll"],"protos":["http","echo"],
      "connections":[10],"mixes":{"tail":[{"path":"/app?cpu_us=0","weight":99},{"path":"/app?cpu_us=1000","weight":1}]},
      "workloads":["file:1KiB","app:calls=1&delay_us=100","mix:tail"],"backend_conns":64})"), "f");
  Expanded e = expand(m, registry());
  EXPECT_EQ(keys(e), (std::vector<std::string>{"reactor-epoll_http_c10_f1024_bc64_closed",
                                                "reactor-epoll_http_c10_app-calls1-delay_us100_bc64_closed",
                                                "reactor-epoll_http_c10_mix-tail_bc64_closed",
                                                "reactor-epoll_echo_c10_m64_closed"}));
  EXPECT_EQ(e.cells[0].file_size_bytes, 1024u);
  EXPECT_FALSE(e.cells[1].file_size_bytes.has_value());
  EXPECT_TRUE(e.cells[1].needs_backend());
  EXPECT_FALSE(e.cells[2].needs_backend());
  EXPECT_FALSE(e.cells[3].needs_backend());
  auto j = e.cells[1].to_json();
  EXPECT_EQ(j["workload"], "app:calls=1&delay_us=100");
  EXPECT_EQ(j["backend_conns"], 64);
  EXPECT_TRUE(e.cells[3].to_json()["workload"].is_null());
  EXPECT_EQ(mixes_to_json(m.mixes)["tail"][1]["weight"], 1);

  // --workloads replaces every group's; --file-size adds file workloads.
  Overrides o;
  o.workloads = std::vector<std::string>{"mix:tail"};
  o.protos = std::vector<std::string>{"http"};
  apply_overrides(m, o);
  EXPECT_EQ(keys(expand(m, registry())), (std::vector<std::string>{"reactor-epoll_http_c10_mix-tail_bc64_closed"}));
  o.workloads = std::vector<std::string>{"mix:other"};
  EXPECT_THROW(apply_overrides(m, o), std::invalid_argument);
  EXPECT_THROW(parse_workload_list("app:calls=1,,file:1", m.mixes), std::invalid_argument);

  // file_sizes still means file workloads; an extra group's file_sizes
  // replaces the workloads it inherits.
  Matrix old = parse_matrix(json::parse(R"({"models":["reactor:epoll"],"protos":["http"],"connections":[10],
      "workloads":["app:cpu_us=10"],"extra":[{"file_sizes":["2KiB"]}]})"), "f");
  EXPECT_EQ(keys(expand(old, registry())), (std::vector<std::string>{"reactor-epoll_http_c10_app-cpu_us10_closed",
                                                                      "reactor-epoll_http_c10_f2048_closed"}));
  for (const char* bad : {R"({"models":["all"],"workloads":["app:x=1"]})",
                          R"({"models":["all"],"workloads":["mix:none"]})",
                          R"({"models":["all"],"workloads":[]})",
                          R"({"models":["all"],"workloads":["file:1KiB"],"file_sizes":["1KiB"]})",
                          R"({"models":["all"],"backend_conns":0})",
                          R"({"models":["all"],"extra":[{"mixes":{}}]})"}) {
    EXPECT_THROW(parse_matrix(json::parse(bad), "f"), std::invalid_argument) << bad;
  }
}

TEST(Workload, ServiceAndCpuProfilesParse) {
  std::vector<ModelVariant> models = registry();
  for (const ModelVariant& m : parse_model_json(R"([
      {"name": "pool", "variant": "ready", "default": true, "supported": true, "app_wait": "worker"},
      {"name": "pool", "variant": "conn", "default": false, "supported": true, "app_wait": "worker"}])")) {
    models.push_back(m);
  }
  EXPECT_EQ(models.back().app_wait, "worker");
  Expanded service = expand(load_matrix("service"), models);
  // 3 default variants (process:fork, reactor:epoll, pool:ready) + pool:conn
  // and process:prefork, x 4 delays x 3 connection counts.
  EXPECT_EQ(service.cells.size(), 5u * 4u * 3u);
  EXPECT_FALSE(service.cells.empty());
  for (const Cell& c : service.cells) {
    EXPECT_EQ(c.proto, "http");
    EXPECT_TRUE(c.needs_backend()) << c.key();
  }
  Expanded cpu = expand(load_matrix("cpu"), models);
  int mixes = 0;
  for (const Cell& c : cpu.cells) {
    EXPECT_FALSE(c.needs_backend()) << c.key();
    mixes += c.workload->kind == Workload::Kind::kMix ? 1 : 0;
  }
  EXPECT_GT(mixes, 0);
}

TEST(Runner, SourceAddressesOnlyBeyondHalfThePortRange) {
  EXPECT_TRUE(source_ips_for(1000).empty());
  auto range = procfs::read_file("/proc/sys/net/ipv4/ip_local_port_range");
  ASSERT_TRUE(range.has_value());
  long first = 0, last = 0;
  std::istringstream(*range) >> first >> last;
  int half = static_cast<int>((last - first + 1) / 2);
  EXPECT_TRUE(source_ips_for(half).empty());
  EXPECT_EQ(source_ips_for(half + 1), (std::vector<std::string>{"127.0.0.2", "127.0.0.3"}));
}

// ---- results ----------------------------------------------------------------

TEST(Results, Summarize) {
  auto s = summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s["mean"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(s["median"].get<double>(), 2.5);
  EXPECT_NEAR(s["stddev"].get<double>(), std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_DOUBLE_EQ(s["min"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(s["max"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(summarize({7})["stddev"].get<double>(), 0);
  EXPECT_TRUE(summarize({})["mean"].is_null());
}

RunRecord make_run(const Cell& c, int rep, double rps, bool ok) {
  RunRecord r;
  r.cell = c;
  r.repetition = rep;
  r.requests_per_s = rps;
  r.server.pss_peak_kb = 1000;
  if (!ok) r.fail("crash: test");
  return r;
}

TEST(Results, AggregatesUseOnlySuccessfulRepetitions) {
  Cell a;
  a.model = "reactor";
  a.variant = "epoll";
  a.proto = "echo";
  a.connections = 10;
  a.msg_size_bytes = 64;
  Cell b = a;
  b.connections = 20;
  Cell never = a;
  never.connections = 30;
  std::vector<RunRecord> runs = {make_run(a, 0, 100, true), make_run(b, 0, 5, false),
                                 make_run(a, 1, 300, true), make_run(a, 2, 1e9, false)};
  auto agg = make_aggregates({a, b, never}, runs);
  ASSERT_EQ(agg.size(), 2u);  // `never` has not run yet
  EXPECT_EQ(agg[0]["repetitions"], 3);
  EXPECT_EQ(agg[0]["ok_repetitions"], 2);
  EXPECT_DOUBLE_EQ(agg[0]["metrics"]["requests_per_s"]["mean"].get<double>(), 200);
  EXPECT_TRUE(agg[0]["metrics"]["p99_us"]["mean"].is_null());
  EXPECT_EQ(agg[1]["ok_repetitions"], 0);
  EXPECT_TRUE(agg[1]["metrics"]["requests_per_s"]["mean"].is_null());
}

TEST(Results, FailedRunKeepsWhatItMeasured) {
  Cell a;
  a.model = "thread";
  a.variant = "per-conn";
  a.proto = "http";
  a.connections = 10;
  a.file_size_bytes = 1024;
  RunRecord r = make_run(a, 0, 50, false);
  r.fail("a second reason is ignored");
  auto j = r.to_json();
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["failure_reason"], "crash: test");
  EXPECT_EQ(j["requests_per_s"], 50.0);
  EXPECT_TRUE(j["latency"].is_null());
  EXPECT_TRUE(j["server"]["cpu_user_s"].is_null());
  EXPECT_EQ(j["server"]["pss_peak_kb"], 1000);
  EXPECT_EQ(j["id"], "thread-per-conn_http_c10_f1024_closed_r0");
}

TEST(Results, WriterKeepsValidJsonAndTheLatestLink) {
  TempDir tmp("harness-unit-");
  std::string root = tmp.path() + "/results";
  ResultsWriter first(root, "20260101T000000Z");
  ResultsWriter second(root, "20260101T000000Z");  // same second: a suffix
  EXPECT_EQ(first.dir(), root + "/20260101T000000Z");
  EXPECT_EQ(second.dir(), root + "/20260101T000000Z-1");
  char target[256] = {};
  ASSERT_GT(::readlink((root + "/latest").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "20260101T000000Z-1");

  Cell a;
  a.model = "reactor";
  a.variant = "epoll";
  a.proto = "echo";
  a.connections = 10;
  a.msg_size_bytes = 64;
  second.set_cells({a});
  second.add_run(make_run(a, 0, 10, true));
  second.add_run(make_run(a, 1, 30, true));
  std::ifstream in(second.dir() + "/results.json");
  auto doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_EQ(doc["runs"].size(), 2u);
  EXPECT_DOUBLE_EQ(doc["aggregates"][0]["metrics"]["requests_per_s"]["median"].get<double>(), 20);
  EXPECT_EQ(second.write_hgrm("x_r0", "Value Percentile\n"), "runs/x_r0.hgrm");
  // results.json and runs/ only: no temporary file left behind.
  std::vector<std::string> names;
  DIR* dir = ::opendir(second.dir().c_str());
  ASSERT_NE(dir, nullptr);
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"results.json", "runs"}));
}

TEST(Workspace, DocrootFilesHaveTheirSizes) {
  TempDir tmp("harness-unit-");
  make_docroot(tmp.path() + "/www", {1, 1024, 70000});
  for (uint64_t size : {1u, 1024u, 70000u}) {
    struct stat st {};
    ASSERT_EQ(::stat((tmp.path() + "/www" + docroot_path_for(size)).c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), size);
  }
  EXPECT_EQ(docroot_path_for(1024), "/f1024.bin");
}

// ---- window arithmetic ------------------------------------------------------

TreeSample sample(std::vector<pid_t> pids, std::vector<std::tuple<pid_t, pid_t, uint64_t, uint64_t>> tasks,
                  uint64_t cpu_ms, uint64_t utime, ReapedTotals reaped, uint64_t pss) {
  TreeSample s;
  s.taken = std::chrono::steady_clock::now();
  for (pid_t p : pids) s.pids.insert(p);
  s.processes = static_cast<int>(pids.size());
  s.threads = static_cast<int64_t>(tasks.size());
  for (auto [tid, tgid, vol, invol] : tasks) s.tasks[tid] = TaskRecord{tgid, vol, invol};
  s.cpu_ns = cpu_ms * 1'000'000;
  s.utime_ticks = utime;
  s.stime_ticks = 3 * utime;
  s.reaped = reaped;
  s.pss_kb = pss;
  return s;
}

TEST(Window, CountsExitedThreadsAndReapedChildren) {
  // Process 100 (threads 100, 101; 102 is born and dies in the window) and
  // child process 200, which is reaped in the window with 9/1 switches.
  // CPU: 1500 ms live at the start (200 held 500 of it), 1100 ms live at
  // the end plus 200 was reaped with 600 ms: 200 ms in the window.
  TreeSample s0 = sample({100, 200}, {{100, 100, 10, 1}, {101, 100, 20, 2}, {200, 200, 7, 1}}, 1500, 0, {}, 5000);
  TreeSample mid = sample({100, 200}, {{100, 100, 15, 1}, {101, 100, 30, 3}, {102, 100, 5, 0}, {200, 200, 8, 1}},
                          1600, 0, {}, 9000);
  ReapedTotals reaped{1, 150'000, 450'000, 9, 1};
  TreeSample s1 = sample({100}, {{100, 100, 20, 1}, {101, 100, 40, 3}}, 1100, 10, reaped, 7000);
  WindowTracker w;
  w.add(s0);
  w.add(mid);
  w.add(s1);
  WindowFigures f = w.finish(s1);
  // End: live 20+40, exited thread 102 at 5, reaped 9 = 74; start 10+20+7.
  EXPECT_EQ(f.voluntary_cs, 74u - 37u);
  EXPECT_EQ(f.involuntary_cs, (1u + 3u + 0u + 1u) - (1u + 2u + 1u));
  EXPECT_EQ(f.threads_exited, 1);
  EXPECT_NEAR(f.cpu_user_s + f.cpu_sys_s, 0.2, 1e-9);
  // The split: ticks (1:3) and reaped (1:3) agree on a quarter user time.
  double tick = 1.0 / static_cast<double>(procfs::clock_ticks_per_s());
  double du = 10 * tick + 0.15, ds = 30 * tick + 0.45;
  EXPECT_NEAR(f.cpu_user_s, 0.2 * du / (du + ds), 1e-9);
  EXPECT_EQ(f.pss_peak_kb, 9000u);
  EXPECT_EQ(f.threads_peak, 4);
  EXPECT_EQ(f.processes_peak, 2);
}

// /proc/stat: per-CPU lines by number; busy = user + nice + system,
// steal its own column, total every column up to steal.
TEST(Noise, ParsesProcStat) {
  std::vector<CpuTicks> t = parse_proc_stat(
      "cpu  10 0 10 100 0 0 0 0 0 0\n"
      "cpu0 1 2 3 100 5 6 7 8 0 0\n"
      "cpu1 10 0 20 300 0 1 1 30 0 0\n"
      "intr 1 2 3\n");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].busy, 6u);
  EXPECT_EQ(t[0].steal, 8u);
  EXPECT_EQ(t[0].total, 1u + 2 + 3 + 100 + 5 + 6 + 7 + 8);
  EXPECT_EQ(t[1].busy, 30u);
  EXPECT_EQ(t[1].steal, 30u);
  EXPECT_EQ(t[1].total, 362u);
}

// Two points a second apart: the server used 0.5 s, the harness 0.2 s,
// the backend 0.1 s, and the CPUs 1.3 s busy in all: 0.5 s (50% of a CPU)
// was somebody else's. CPU 0 (the server's) had 10 of its 100 ticks
// stolen. Figures in between are interpolated; the warnings name both.
TEST(Noise, OtherProcessesAndStealFromPoints) {
  long hz = procfs::clock_ticks_per_s();
  auto ticks = [hz](double s) { return static_cast<uint64_t>(std::llround(s * static_cast<double>(hz))); };
  CpuSeries series({0}, {1});
  CpuPoint a;
  a.t_ns = 1'000'000'000;
  a.cpus = {CpuTicks{0, 0, 0}, CpuTicks{0, 0, 0}};
  CpuPoint b;
  b.t_ns = 2'000'000'000;
  b.server_cpu_s = 0.5;
  b.self_cpu_s = 0.2;
  b.backend_cpu_s = 0.1;
  b.cpus = {CpuTicks{ticks(0.8), ticks(0.1), ticks(1.0)}, CpuTicks{ticks(0.5), 0, ticks(1.0)}};
  series.add(a);
  series.add(b);
  std::optional<NoiseFigures> f = series.over(0, 3'000'000'000);  // cut to the points
  ASSERT_TRUE(f);
  EXPECT_NEAR(f->span_s, 1.0, 1e-9);
  EXPECT_NEAR(f->other_cpu_s, 0.5, 0.02);
  EXPECT_NEAR(f->other_cpu_pct, 50.0, 2.0);
  ASSERT_TRUE(f->steal_server_cpus_pct);
  EXPECT_NEAR(*f->steal_server_cpus_pct, 10.0, 1.0);
  EXPECT_NEAR(*f->steal_client_cpus_pct, 0.0, 1e-9);
  std::vector<std::string> w = CpuSeries::warnings(*f);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], "noisy machine: 10% steal on the server CPUs");
  EXPECT_EQ(w[1], "noisy machine: other processes used 50% of a CPU in the window");
  // The first half second, interpolated: half of everything.
  std::optional<NoiseFigures> half = series.over(1'000'000'000, 1'500'000'000);
  ASSERT_TRUE(half);
  EXPECT_NEAR(half->other_cpu_s, 0.25, 0.02);
  // Annotating a series: one interval inside the points, one outside.
  nlohmann::ordered_json ts = {{"interval_s", 0.5},
                               {"intervals",
                                {{{"start_s", 0.0}, {"duration_s", 0.5}, {"requests", 1000}},
                                 {{"start_s", 5.0}, {"duration_s", 0.5}, {"requests", 10}}}}};
  series.annotate(ts, 1'000'000'000);
  EXPECT_NEAR(ts["intervals"][0]["server_cpu_pct"].get<double>(), 50.0, 1e-6);
  EXPECT_NEAR(ts["intervals"][0]["load_cpu_pct"].get<double>(), 30.0, 1e-6);
  EXPECT_NEAR(ts["intervals"][0]["server_cpu_us_per_request"].get<double>(), 250.0, 1e-6);
  EXPECT_TRUE(ts["intervals"][1]["server_cpu_pct"].is_null());
  // A quiet machine: no warning.
  NoiseFigures quiet;
  quiet.steal_server_cpus_pct = 0.5;
  quiet.other_cpu_pct = 3;
  EXPECT_TRUE(CpuSeries::warnings(quiet).empty());
}

// The interval rules of --target-ci: t over repetitions, batch means over
// one run's window intervals (full-length ones only).
TEST(Confidence, RepetitionsAndBatchMeans) {
  EXPECT_DOUBLE_EQ(t95(1), 12.706);
  EXPECT_DOUBLE_EQ(t95(9), 2.262);
  EXPECT_NEAR(t95(120), 1.980, 0.002);
  // 100 and 110: mean 105, sd 7.071, half-width 12.706 * 7.071 / sqrt(2) = 63.53.
  auto two = mean_ci({100, 110});
  ASSERT_TRUE(two);
  EXPECT_NEAR(two->half_width, 63.53, 0.01);
  EXPECT_FALSE(batch_means_ci({1, 2, 3, 4}));
  // 20 values: 10 batches of two, means 1.5, 3.5, ..., 19.5: sd 6.055,
  // half-width 2.262 * 6.055 / sqrt(10) = 4.331.
  std::vector<double> v;
  for (int i = 1; i <= 20; ++i) v.push_back(i);
  auto bm = batch_means_ci(v);
  ASSERT_TRUE(bm);
  EXPECT_EQ(bm->n, 10);
  EXPECT_DOUBLE_EQ(bm->mean, 10.5);
  EXPECT_NEAR(bm->half_width, 4.331, 0.001);
  nlohmann::ordered_json ts = {{"interval_s", 0.25}, {"intervals", nlohmann::ordered_json::array()}};
  ts["intervals"].push_back({{"warmup", true}, {"duration_s", 0.25}, {"requests_per_s", 1.0}});
  for (int i = 0; i < 6; ++i) ts["intervals"].push_back({{"warmup", false}, {"duration_s", 0.25}, {"requests_per_s", 100.0 + i}});
  ts["intervals"].push_back({{"warmup", false}, {"duration_s", 0.1}, {"requests_per_s", 5.0}});
  EXPECT_EQ(window_rates(ts), (std::vector<double>{100, 101, 102, 103, 104, 105}));
  RunRecord r;
  r.requests_per_s = 102.4;
  r.timeseries = ts;
  auto one = throughput_ci({&r});
  ASSERT_TRUE(one);
  EXPECT_DOUBLE_EQ(one->mean, 102.4);  // the run's own figure
  EXPECT_EQ(one->n, 6);
  RunRecord failed;
  failed.ok = false;
  failed.requests_per_s = 1;
  EXPECT_EQ(throughput_ci({&r, &failed})->n, 6);  // failed runs do not count
}


TEST(ClientHosts, ParsesHostsAndTheirSourceAddresses) {
  std::vector<ClientHost> h = parse_client_hosts("root@198.18.1.2,h2=198.18.2.10-198.18.2.12,u@h3=198.18.3.1+198.18.3.2");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].host, "root@198.18.1.2");
  EXPECT_TRUE(h[0].source_ips.empty());
  EXPECT_EQ(h[1].host, "h2");
  EXPECT_EQ(h[1].source_ips, (std::vector<std::string>{"198.18.2.10", "198.18.2.11", "198.18.2.12"}));
  EXPECT_EQ(h[2].source_ips, (std::vector<std::string>{"198.18.3.1", "198.18.3.2"}));
  EXPECT_EQ(h[2].spec, "u@h3=198.18.3.1+198.18.3.2");
  for (const char* bad : {"", "a,,b", "@h", "u@", "h;rm -rf /", "h$(x)", "h=notanip", "h,h", "a b"}) {
    EXPECT_THROW(parse_client_hosts(bad), std::invalid_argument) << bad;
  }
}

TEST(ClientHosts, TheAgentCommandPutsTheHostWhereTheTransportSays) {
  EXPECT_EQ(agent_command(kDefaultTransport, "u@h1", "/opt/cb/loadgen"),
            "ssh -o BatchMode=yes u@h1 /opt/cb/loadgen --agent");
  EXPECT_EQ(agent_command("ip netns exec {host} taskset -c 1", "ns1", "/x/loadgen"),
            "ip netns exec ns1 taskset -c 1 /x/loadgen --agent");
  EXPECT_EQ(agent_command("ssh -p 2222", "h", "loadgen"), "ssh -p 2222 h loadgen --agent");
  EXPECT_THROW(check_transport(" ", "/x/loadgen"), std::invalid_argument);
  EXPECT_THROW(check_transport("ssh", "/x/load gen"), std::invalid_argument);
  EXPECT_THROW(check_transport("ssh", "/x/$(loadgen)"), std::invalid_argument);
  EXPECT_NO_THROW(check_transport("ssh", "/x/build-1/loadgen"));
}

TEST(ClientHosts, LoadSplitsByConnectionsWithTheRateFollowing) {
  loadgen::LoadConfig c;
  c.connections = 101;
  c.rate_per_s = 10100;
  c.connect_rate_per_s = 1010;
  c.source_ips = {"127.0.0.2"};
  std::vector<ClientHost> hosts = parse_client_hosts("a=198.18.1.5,b");
  std::vector<loadgen::LoadConfig> parts = split_load(c, hosts);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].connections, 51);
  EXPECT_EQ(parts[1].connections, 50);
  EXPECT_DOUBLE_EQ(parts[0].rate_per_s + parts[1].rate_per_s, 10100);
  EXPECT_DOUBLE_EQ(parts[0].rate_per_s, 5100);
  EXPECT_DOUBLE_EQ(parts[1].connect_rate_per_s, 500);
  EXPECT_EQ(parts[0].source_ips, std::vector<std::string>{"198.18.1.5"});
  EXPECT_TRUE(parts[1].source_ips.empty());  // the harness's loopback sources never travel
  c.connections = 1;
  EXPECT_THROW(split_load(c, hosts), std::invalid_argument);
}

TEST(ClientHosts, MatrixFilesNameThemAndTheCommandLineReplacesThem) {
  nlohmann::json j = {{"models", {"reactor"}}, {"client_hosts", {"root@h1", "h2=198.18.2.2"}}};
  Matrix m = parse_matrix(j, "test");
  ASSERT_EQ(m.client_hosts.size(), 2u);
  EXPECT_EQ(m.client_hosts[1].source_ips, std::vector<std::string>{"198.18.2.2"});
  Overrides o;
  o.client_hosts = parse_client_hosts("h9");
  apply_overrides(m, o);
  ASSERT_EQ(m.client_hosts.size(), 1u);
  EXPECT_EQ(m.client_hosts[0].host, "h9");
  j["client_hosts"] = {"bad host"};
  EXPECT_THROW(parse_matrix(j, "test"), std::invalid_argument);
  j["client_hosts"] = "h1";
  EXPECT_THROW(parse_matrix(j, "test"), std::invalid_argument);
}

}  // namespace
}  // namespace cb::harness
