// peers.cpp: see peers.h.
#include "peers.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace cb::harness {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::size_t kMaxConfigBytes = 64 * 1024;
// `serve --check` and `--version` look for commands and read versions:
// anything slower than this is a broken runtime.
constexpr int kCheckTimeoutS = 20;

[[noreturn]] void bad(const std::string& why) { throw std::invalid_argument(why); }

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Ran {
  int status = -1;  // exit status, -1 if it did not exit normally
  std::string out;
};

// Runs a shell command with stdin closed and stderr merged into stdout.
Ran run_command(const std::string& command) {
  std::string line = fmt::format("timeout {} {} </dev/null 2>&1", kCheckTimeoutS, command);
  Ran r;
  FILE* pipe = ::popen(line.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
  int status = ::pclose(pipe);
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

std::vector<Peer> load_peers(const std::string& dir) {
  std::string path = dir + "/peers.json";
  std::ifstream in(path);
  if (!in) bad(fmt::format("no peers.json in '{}' (--peers-dir)", dir));
  ojson j = ojson::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_array()) bad(fmt::format("{}: not a JSON array", path));
  std::vector<Peer> peers;
  for (const ojson& row : j) {
    auto text = [&](const char* key) {
      if (!row.is_object() || !row.contains(key) || !row[key].is_string() || row[key].get<std::string>().empty()) {
        bad(fmt::format("{}: an entry lacks the string '{}'", path, key));
      }
      return row[key].get<std::string>();
    };
    Peer p;
    p.name = text("name");
    p.summary = text("summary");
    if (p.name.find_first_of(":/ ") != std::string::npos) bad(fmt::format("{}: bad peer name '{}'", path, p.name));
    if (!row.contains("protocols") || !row["protocols"].is_array() || row["protocols"].empty()) {
      bad(fmt::format("{}: peer '{}' lacks the array 'protocols'", path, p.name));
    }
    for (const ojson& proto : row["protocols"]) {
      if (!proto.is_string() || (proto != "echo" && proto != "http")) {
        bad(fmt::format("{}: peer '{}': protocols are \"echo\" and \"http\"", path, p.name));
      }
      p.protocols.push_back(proto.get<std::string>());
    }
    if (row.contains("twin") && row["twin"].is_string()) p.twin = row["twin"].get<std::string>();
    if (std::any_of(peers.begin(), peers.end(), [&](const Peer& q) { return q.name == p.name; })) {
      bad(fmt::format("{}: peer '{}' listed twice", path, p.name));
    }
    p.row = row;
    p.launcher = dir + "/" + p.name + "/serve";
    peers.push_back(std::move(p));
  }
  if (peers.empty()) bad(fmt::format("{}: lists no peer", path));
  return peers;
}

void check_peers(std::vector<Peer>& peers) {
  for (Peer& p : peers) {
    for (const char* proto : {"echo", "http"}) {
      if (std::find(p.protocols.begin(), p.protocols.end(), proto) == p.protocols.end()) {
        p.unavailable[proto] = fmt::format("peer:{} serves {} only", p.name, fmt::join(p.protocols, " and "));
        continue;
      }
      if (::access(p.launcher.c_str(), X_OK) != 0) {
        p.unavailable[proto] = fmt::format("{} is not an executable", p.launcher);
        continue;
      }
      Ran r = run_command(fmt::format("{} --check --proto {}", quote(p.launcher), proto));
      if (r.status != 0) {
        std::string why = first_line(r.out);
        p.unavailable[proto] = why.empty() ? fmt::format("serve --check failed (status {})", r.status) : why;
      }
    }
    if (::access(p.launcher.c_str(), X_OK) == 0) {
      Ran r = run_command(fmt::format("{} --version", quote(p.launcher)));
      if (r.status == 0 && !first_line(r.out).empty()) p.version = first_line(r.out);
    }
  }
}

std::vector<ModelVariant> peer_models(const std::vector<Peer>& peers) {
  std::vector<ModelVariant> rows;
  for (const Peer& p : peers) {
    ModelVariant m;
    m.name = kPeerModel;
    m.variant = p.name;
    m.summary = p.summary;
    m.peer = true;
    m.unavailable_protos = p.unavailable;
    rows.push_back(std::move(m));
  }
  return rows;
}

bool names_a_peer(const std::vector<std::string>& tokens) {
  return std::any_of(tokens.begin(), tokens.end(), [](const std::string& t) {
    return t == kPeerModel || t.rfind(std::string(kPeerModel) + ":", 0) == 0;
  });
}

ojson peers_to_json(const std::vector<Peer>& peers) {
  ojson out = ojson::array();
  for (const Peer& p : peers) {
    ojson checks = ojson::object();
    for (const char* proto : {"echo", "http"}) {
      auto it = p.unavailable.find(proto);
      checks[proto] = it == p.unavailable.end() ? ojson("ok") : ojson(it->second);
    }
    out.push_back({{"name", p.name},
                   {"model", std::string(kPeerModel) + ":" + p.name},
                   {"launcher", p.launcher},
                   {"check", checks},
                   {"version", p.version ? ojson(*p.version) : ojson(nullptr)},
                   {"row", p.row}});
  }
  return out;
}

std::vector<std::string> peer_command(const std::string& launcher, const std::string& proto,
                                      const std::string& root, int workers, const std::string& state_dir,
                                      const std::string& bin_dir, const std::string& host) {
  std::vector<std::string> args = {launcher, "--proto", proto, "--host", host, "--port", "0"};
  if (proto == "http") args.insert(args.end(), {"--root", root});
  args.insert(args.end(), {"--workers", std::to_string(workers), "--state-dir", state_dir});
  if (!bin_dir.empty()) args.insert(args.end(), {"--bin-dir", bin_dir});
  return args;
}

std::vector<std::pair<std::string, std::string>> peer_config_files(const std::string& state_dir) {
  std::vector<std::pair<std::string, std::string>> files;
  DIR* d = ::opendir(state_dir.c_str());
  if (d == nullptr) return files;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".conf") != 0) continue;
    std::string path = state_dir + "/" + name;
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    std::string body = text.str();
    if (body.size() > kMaxConfigBytes) body.resize(kMaxConfigBytes);
    files.emplace_back(name, std::move(body));
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace cb::harness
