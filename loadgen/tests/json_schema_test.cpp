// json_schema_test.cpp: the JSON a run produces has exactly the documented
// keys with the documented types (json_keys.txt), and README.md documents
// every one of them.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "loadgen/load.h"
#include "test_server.h"

namespace cb::loadgen {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::map<std::string, std::string> documented_keys() {
  std::map<std::string, std::string> keys;
  std::stringstream in(slurp(CB_LOADGEN_SOURCE_DIR "/tests/json_keys.txt"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::stringstream fields(line);
    std::string path, type;
    fields >> path >> type;
    keys[path] = type;
  }
  return keys;
}

bool has_type(const json& v, const std::string& type) {
  if (!type.empty() && type.back() == '?') {
    return v.is_null() || has_type(v, type.substr(0, type.size() - 1));
  }
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "object" || type == "map") return v.is_object();
  if (type == "array") return v.is_array();
  return false;
}

// Every key path in `j` ("a.b", "a[].c"), except inside maps.
void collect(const json& j, const std::string& prefix,
             const std::map<std::string, std::string>& keys,
             std::map<std::string, std::vector<const json*>>& out) {
  auto it = keys.find(prefix);
  if (!prefix.empty()) out[prefix].push_back(&j);
  if (it != keys.end() && it->second == "map") return;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items())
      collect(v, prefix.empty() ? k : prefix + "." + k, keys, out);
  } else if (j.is_array()) {
    for (const json& v : j) {
      if (v.is_object() || v.is_array()) collect(v, prefix + "[]", keys, out);
    }
  }
}

void check_schema(const json& doc) {
  auto keys = documented_keys();
  ASSERT_GT(keys.size(), 50u);
  std::map<std::string, std::vector<const json*>> found;
  collect(doc, "", keys, found);
  for (const auto& [path, type] : keys) {
    auto it = found.find(path);
    if (it == found.end() && path.find("[]") != std::string::npos) {
      // Elements of an array that is empty in this run (no histogram buckets).
      auto parent = found.find(path.substr(0, path.rfind("[]")));
      ASSERT_NE(parent, found.end()) << path;
      for (const json* v : parent->second) EXPECT_TRUE(v->empty()) << path;
      continue;
    }
    ASSERT_NE(it, found.end()) << "documented key missing from the output: " << path;
    for (const json* v : it->second) EXPECT_TRUE(has_type(*v, type)) << path << " is not " << type;
  }
  for (const auto& [path, values] : found) {
    EXPECT_TRUE(keys.count(path)) << "undocumented key in the output: " << path;
  }
  EXPECT_EQ(doc["schema_version"], kSchemaVersion);
}

LoadResult short_run(bool http) {
  testing::TestServerOptions o;
  o.mode = http ? testing::TestServerOptions::Mode::kHttp : testing::TestServerOptions::Mode::kEcho;
  o.status = 503;  // an error class and a status class with counts
  testing::TestServer server(o);
  LoadConfig c;
  c.port = server.port();
  c.proto = http ? Proto::kHttp : Proto::kEcho;
  c.connections = 2;
  c.max_requests = 200;
  c.duration = 0ns;
  c.paths = {{"/a", 1}, {"/b", 2}};
  c.source_ips = {"127.0.0.1"};
  return run_load(c);
}

TEST(JsonSchema, EchoRunHasEveryDocumentedKey) {
  json doc = json::parse(short_run(false).to_json().dump());
  check_schema(doc);
  EXPECT_EQ(doc["results"]["requests"], 200);
  EXPECT_TRUE(doc["results"]["fairness"]["jain_index"].is_number());
}

TEST(JsonSchema, HttpRunWithErrorsHasEveryDocumentedKey) {
  json doc = json::parse(short_run(true).to_json().dump());
  check_schema(doc);
  EXPECT_EQ(doc["results"]["errors"]["status"], 200);
  EXPECT_EQ(doc["results"]["status"]["5xx"], 200);
}

TEST(JsonSchema, ConnectErrorRunNamesTheReason) {
  LoadConfig c;
  c.port = testing::unused_port();
  c.connections = 1;
  json doc = json::parse(run_load(c).to_json().dump());
  check_schema(doc);
  EXPECT_EQ(doc["results"]["first_error"]["connect"], "Connection refused");
  // Nothing completed: no share to judge, so the index is null, not 1 or 0.
  EXPECT_TRUE(doc["results"]["fairness"]["jain_index"].is_null());
  EXPECT_EQ(doc["results"]["fairness"]["connections"], 1);
}

TEST(JsonSchema, ReadmeDocumentsEveryKey) {
  std::string readme = slurp(CB_LOADGEN_SOURCE_DIR "/README.md");
  ASSERT_FALSE(readme.empty());
  for (const auto& [path, type] : documented_keys()) {
    EXPECT_NE(readme.find("| `" + path + "` | " + type + " |"), std::string::npos)
        << "README.md does not document " << path << " (" << type << ")";
  }
}

}  // namespace
}  // namespace cb::loadgen
