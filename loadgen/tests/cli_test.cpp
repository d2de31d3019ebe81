// cli_test.cpp: the loadgen binary as a user meets it: bad input is one line
// on stderr and exit 2, --help prints the option table, a target with
// nothing listening gives connect errors, a report and exit 1, and --json /
// --hgrm write their files, with one class per --paths line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "loadgen/cli.h"
#include "test_server.h"

extern char** environ;

namespace cb::loadgen {
namespace {

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "loadgen_cli_" + std::to_string(::getpid()) + "_" + name;
}

// Runs the loadgen binary with stdout and stderr captured in files.
Outcome run_loadgen(std::vector<std::string> args) {
  std::string out_path = temp_path("stdout"), err_path = temp_path("stderr");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  args.insert(args.begin(), CB_LOADGEN_BINARY);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  Outcome o;
  int rc = posix_spawn(&pid, CB_LOADGEN_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return o;
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  o.out = slurp(out_path);
  o.err = slurp(err_path);
  ::unlink(out_path.c_str());
  ::unlink(err_path.c_str());
  return o;
}

void expect_one_line_error(const std::vector<std::string>& args, const std::string& mentions) {
  Outcome o = run_loadgen(args);
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_EQ(o.err.rfind("loadgen: ", 0), 0u) << o.err;
  EXPECT_NE(o.err.find(mentions), std::string::npos) << o.err;
  EXPECT_TRUE(o.out.empty()) << o.out;
}

TEST(Cli, BadInputIsOneLineAndExitTwo) {
  expect_one_line_error({}, "TARGET");
  expect_one_line_error({"--no-such-option", "127.0.0.1:1"}, "--no-such-option");
  expect_one_line_error({"-c", "lots", "127.0.0.1:1"}, "lots");
  expect_one_line_error({"-d", "5parsecs", "127.0.0.1:1"}, "5parsecs");
  expect_one_line_error({"--msg-size", "12XB", "127.0.0.1:1"}, "12XB");
  expect_one_line_error({"127.0.0.1"}, "port");
  expect_one_line_error({"127.0.0.1:99999"}, "65535");
  expect_one_line_error({"--proto", "ftp", "127.0.0.1:1"}, "ftp");
  expect_one_line_error({"-p", "0", "127.0.0.1:1"}, "pipeline");
  expect_one_line_error({"--close", "127.0.0.1:1"}, "--close");
  expect_one_line_error({"--source-ips", "10.0.0.9-10.0.0.1", "127.0.0.1:1"}, "10.0.0.9");
  expect_one_line_error({"--paths", "/no/such/file", "http://127.0.0.1:1/"}, "/no/such/file");
}

TEST(Cli, HelpListsOptionsWithUnits) {
  Outcome o = run_loadgen({"--help"});
  EXPECT_EQ(o.exit_code, 0);
  for (const char* text : {"--connections", "--rate", "--warmup", "--pipeline", "--source-ips",
                           "--json", "--hgrm", "10k", "30s", "64KiB"}) {
    EXPECT_NE(o.out.find(text), std::string::npos) << text;
  }
}

TEST(Cli, NothingListeningReportsConnectErrorsAndExitsOne) {
  std::string port = std::to_string(testing::unused_port());
  Outcome o = run_loadgen({"-c", "3", "-d", "20s", "127.0.0.1:" + port});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_NE(o.out.find("Errors: connect"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Connection refused"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("no connection to 127.0.0.1:" + port), std::string::npos) << o.out;
}

TEST(Cli, RunWritesSummaryJsonAndHgrm) {
  testing::TestServer server({});
  std::string json_path = temp_path("out.json"), hgrm_path = temp_path("out.hgrm");
  Outcome o = run_loadgen({"-c", "2", "-n", "1k", "--msg-size", "1KiB", "--json", json_path,
                           "--hgrm", hgrm_path, "127.0.0.1:" + std::to_string(server.port())});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("1000 requests in"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Requests/sec:"), std::string::npos) << o.out;
  nlohmann::json doc = nlohmann::json::parse(slurp(json_path));
  EXPECT_EQ(doc["results"]["requests"], 1000);
  EXPECT_EQ(doc["results"]["bytes_read"], 1000 * 1024);
  EXPECT_EQ(doc["config"]["msg_size_bytes"], 1024);
  std::string hgrm = slurp(hgrm_path);
  EXPECT_EQ(hgrm.rfind("       Value     Percentile", 0), 0u);
  EXPECT_NE(hgrm.find("Total count    =         1000]"), std::string::npos) << hgrm;
  ::unlink(json_path.c_str());
  ::unlink(hgrm_path.c_str());
}

TEST(Cli, ClassHgrmGoesBeforeTheExtension) {
  EXPECT_EQ(class_hgrm_path("run.hgrm", 0), "run.class0.hgrm");
  EXPECT_EQ(class_hgrm_path("out/a.b/run.v2.hgrm", 12), "out/a.b/run.v2.class12.hgrm");
  EXPECT_EQ(class_hgrm_path("out/a.b/latency", 1), "out/a.b/latency.class1");
  EXPECT_EQ(class_hgrm_path(".hgrm", 1), ".hgrm.class1");
}

// The .hgrm footer's count, as histogram.cpp writes it (width 12).
std::string hgrm_total(int count) {
  char field[32];
  std::snprintf(field, sizeof field, "%12d", count);
  return std::string("Total count    = ") + field + "]";
}

// Two weighted paths: two classes, in file order, that add up to the total
// in the JSON, the summary and the per-class .hgrm files.
TEST(Cli, PathsFileGivesOneLatencyClassPerPath) {
  testing::TestServerOptions so;
  so.mode = testing::TestServerOptions::Mode::kHttp;
  testing::TestServer server(so);
  std::string paths = temp_path("paths"), json_path = temp_path("classes.json");
  std::string hgrm_path = temp_path("classes.hgrm");
  std::ofstream(paths) << "# light and heavy\n/app?cpu_us=1 3\n/app?cpu_us=500&calls=2 1\n";
  Outcome o = run_loadgen({"-c", "4", "-n", "2k", "--paths", paths, "--json", json_path, "--hgrm",
                           hgrm_path, "http://127.0.0.1:" + std::to_string(server.port())});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  nlohmann::json doc = nlohmann::json::parse(slurp(json_path));
  const nlohmann::json& classes = doc["results"]["classes"];
  ASSERT_EQ(classes.size(), 2u);
  EXPECT_EQ(classes[0]["path"], "/app?cpu_us=1");
  EXPECT_EQ(classes[0]["weight"], 3);
  EXPECT_EQ(classes[1]["path"], "/app?cpu_us=500&calls=2");
  EXPECT_EQ(classes[1]["weight"], 1);
  uint64_t light = classes[0]["requests"], heavy = classes[1]["requests"];
  EXPECT_GT(light, 0u);
  EXPECT_GT(heavy, 0u);
  EXPECT_EQ(light + heavy, 2000u);
  EXPECT_EQ(doc["results"]["requests"], 2000);
  EXPECT_EQ(classes[0]["latency"]["corrected"]["count"], light);
  EXPECT_EQ(classes[1]["latency"]["uncorrected"]["count"], heavy);
  ASSERT_EQ(doc["histograms"]["classes"].size(), 2u);
  EXPECT_EQ(doc["histograms"]["classes"][1]["path"], "/app?cpu_us=500&calls=2");
  EXPECT_EQ(doc["histograms"]["classes"][1]["corrected"]["count"], heavy);
  EXPECT_EQ(doc["results"]["fairness"]["connections"], 4);
  EXPECT_NE(o.out.find("Class"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("/app?cpu_us=500&calls=2"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Fairness: Jain"), std::string::npos) << o.out;
  EXPECT_NE(slurp(hgrm_path).find(hgrm_total(2000)), std::string::npos);
  std::string hgrm0 = class_hgrm_path(hgrm_path, 0), hgrm1 = class_hgrm_path(hgrm_path, 1);
  EXPECT_NE(slurp(hgrm0).find(hgrm_total(static_cast<int>(light))), std::string::npos)
      << slurp(hgrm0);
  EXPECT_NE(slurp(hgrm1).find(hgrm_total(static_cast<int>(heavy))), std::string::npos);
  for (const std::string& f : {paths, json_path, hgrm_path, hgrm0, hgrm1}) ::unlink(f.c_str());
}

// --one-class: a thousand paths, one class "*" holding every response,
// weighted by the sum; no per-class .hgrm and no class rows.
TEST(Cli, OneClassPutsEveryPathInOneClass) {
  testing::TestServerOptions so;
  so.mode = testing::TestServerOptions::Mode::kHttp;
  testing::TestServer server(so);
  std::string paths = temp_path("many"), json_path = temp_path("one_class.json");
  std::string hgrm_path = temp_path("one_class.hgrm");
  {
    std::ofstream out(paths);
    for (int i = 0; i < 1000; ++i) out << "/d/" << i << ".bin " << (i % 3 + 1) << "\n";
  }
  Outcome o = run_loadgen({"-c", "4", "-n", "3k", "--paths", paths, "--one-class", "--json", json_path,
                           "--hgrm", hgrm_path, "http://127.0.0.1:" + std::to_string(server.port())});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  nlohmann::json doc = nlohmann::json::parse(slurp(json_path));
  EXPECT_EQ(doc["config"]["one_class"], true);
  EXPECT_EQ(doc["config"]["paths"].size(), 1000u);
  const nlohmann::json& classes = doc["results"]["classes"];
  ASSERT_EQ(classes.size(), 1u);
  EXPECT_EQ(classes[0]["path"], "*");
  EXPECT_EQ(classes[0]["weight"], 1999);  // weights 1,2,3,1,2,3,...: (1+2+3) x 333 + 1
  EXPECT_EQ(classes[0]["requests"], 3000);
  EXPECT_EQ(doc["results"]["requests"], 3000);
  EXPECT_EQ(o.out.find("Class"), std::string::npos) << o.out;
  EXPECT_FALSE(std::ifstream(class_hgrm_path(hgrm_path, 0)).good());
  for (const std::string& f : {paths, json_path, hgrm_path}) ::unlink(f.c_str());
}

TEST(Cli, OnePathWritesNoClassHgrm) {
  testing::TestServer server({});
  std::string hgrm_path = temp_path("one.hgrm");
  Outcome o = run_loadgen({"-c", "1", "-n", "100", "--hgrm", hgrm_path,
                           "127.0.0.1:" + std::to_string(server.port())});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_EQ(o.out.find("Class"), std::string::npos) << o.out;
  EXPECT_FALSE(std::ifstream(class_hgrm_path(hgrm_path, 0)).good());
  ::unlink(hgrm_path.c_str());
}

}  // namespace
}  // namespace cb::loadgen
