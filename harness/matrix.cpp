// matrix.cpp: see matrix.h.
#include "matrix.h"

#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "common/units.h"
#include "profiles.h"

namespace cb::harness {
namespace {

using nlohmann::json;

const std::set<std::string> kGroupKeys = {"models",      "protos",          "connections",
                                          "msg_sizes",   "file_sizes",      "workloads",
                                          "rates_per_s", "server_args",     "max_connections",
                                          "backend_conns", "server_memory"};
const std::set<std::string> kTopKeys = {"description", "repeat", "duration", "warmup",
                                        "loadgen_threads", "connect_rate_per_s", "extra",
                                        "microbench", "mixes", "peers", "client_hosts"};

[[noreturn]] void bad(const std::string& why) { throw std::invalid_argument(why); }

std::string trim(const std::string& s) {
  std::size_t a = s.find_first_not_of(" \t");
  std::size_t b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// A JSON value that may be a number or a string with units.
std::string as_text(const json& v, const char* key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() || v.is_number_unsigned()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  bad(fmt::format("matrix: '{}' must hold numbers or strings", key));
}

template <class T, class Parse>
std::vector<T> list_of(const json& v, const char* key, Parse parse) {
  if (!v.is_array() || v.empty()) bad(fmt::format("matrix: '{}' must be a non-empty array", key));
  std::vector<T> out;
  for (const json& item : v) {
    try {
      out.push_back(parse(as_text(item, key)));
    } catch (const std::invalid_argument& e) {
      bad(fmt::format("matrix: '{}': {}", key, e.what()));
    }
  }
  return out;
}

int parse_connections(const std::string& text) {
  uint64_t n = units::parse_count(text);
  if (n == 0 || n > 1'000'000) bad(fmt::format("connections '{}' must be 1..1000000", text));
  return static_cast<int>(n);
}

uint64_t parse_msg_size(const std::string& text) {
  uint64_t n = units::parse_size(text);
  if (n == 0) bad("sizes must be at least 1 byte");
  return n;
}

double parse_rate(const std::string& text) {
  if (text == "closed" || text == "0") return 0;
  if (!text.empty() && text.back() == '%') {
    double pct = 0;
    try {
      std::size_t used = 0;
      pct = std::stod(text.substr(0, text.size() - 1), &used);
      if (used != text.size() - 1) pct = 0;
    } catch (const std::exception&) {
      pct = 0;
    }
    if (!(pct > 0 && pct <= 1000)) bad(fmt::format("rate '{}': a share of capacity must be above 0% and at most 1000%", text));
    return -pct / 100;  // negative: a share, resolved per run
  }
  return static_cast<double>(units::parse_count(text));
}

std::vector<std::string> strings_of(const json& v, const char* key) {
  if (!v.is_array()) bad(fmt::format("matrix: '{}' must be an array of strings", key));
  std::vector<std::string> out;
  for (const json& item : v) {
    if (!item.is_string()) bad(fmt::format("matrix: '{}' must be an array of strings", key));
    out.push_back(item.get<std::string>());
  }
  return out;
}

// Reads a group's keys; missing keys keep `inherit`'s values.
Group parse_group(const json& j, const Group& inherit, bool top, const Mixes& mixes) {
  if (!j.is_object()) bad("matrix: a group must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (kGroupKeys.count(key) == 0 && !(top && kTopKeys.count(key) != 0)) {
      bad(fmt::format("matrix: unknown key '{}'", key));
    }
  }
  Group g = inherit;
  if (j.contains("models")) g.models = strings_of(j["models"], "models");
  if (j.contains("protos")) g.protos = strings_of(j["protos"], "protos");
  if (j.contains("connections")) g.connections = list_of<int>(j["connections"], "connections", parse_connections);
  if (j.contains("msg_sizes")) g.msg_sizes = list_of<uint64_t>(j["msg_sizes"], "msg_sizes", parse_msg_size);
  if (j.contains("file_sizes") && j.contains("workloads")) {
    bad("matrix: a group takes 'file_sizes' or 'workloads', not both (file:SIZE is a workload)");
  }
  if (j.contains("file_sizes")) {
    g.workloads.clear();
    for (uint64_t size : list_of<uint64_t>(j["file_sizes"], "file_sizes", parse_msg_size)) {
      g.workloads.push_back(file_workload(size));
    }
  }
  if (j.contains("workloads")) {
    g.workloads.clear();
    for (const std::string& w : strings_of(j["workloads"], "workloads")) {
      try {
        g.workloads.push_back(parse_workload(w, mixes));
      } catch (const std::invalid_argument& e) {
        bad(fmt::format("matrix: 'workloads': {}", e.what()));
      }
    }
    if (g.workloads.empty()) bad("matrix: 'workloads' must be a non-empty array");
  }
  if (j.contains("backend_conns")) {
    const json& b = j["backend_conns"];
    if (!b.is_number_integer() || b.get<int64_t>() < 1 || b.get<int64_t>() > 100'000) {
      bad("matrix: 'backend_conns' must be an integer 1..100000");
    }
    g.backend_conns = b.get<int>();
  }
  if (j.contains("server_memory")) {
    try {
      uint64_t bytes = units::parse_size(as_text(j["server_memory"], "server_memory"));
      if (bytes < kMinServerMemory) bad(fmt::format("must be at least {}", units::format_size(kMinServerMemory)));
      g.server_memory = bytes;
    } catch (const std::invalid_argument& e) {
      bad(fmt::format("matrix: 'server_memory': {}", e.what()));
    }
  }
  if (j.contains("rates_per_s")) g.rates = list_of<double>(j["rates_per_s"], "rates_per_s", parse_rate);
  if (j.contains("server_args")) g.server_args = strings_of(j["server_args"], "server_args");
  if (j.contains("max_connections")) {
    const json& m = j["max_connections"];
    if (!m.is_object()) bad("matrix: 'max_connections' must map model specs to counts");
    for (const auto& [spec, limit] : m.items()) {
      if (!limit.is_number_integer()) bad("matrix: 'max_connections' values must be integers");
      g.max_connections[spec] = limit.get<int>();
    }
  }
  return g;
}

std::chrono::nanoseconds duration_of(const json& v, const char* key) {
  try {
    return units::parse_duration(as_text(v, key));
  } catch (const std::invalid_argument& e) {
    bad(fmt::format("matrix: '{}': {}", key, e.what()));
  }
}

// Model tokens -> registry rows, in registry order. `selected` (may be
// null) is what the matrix chose; a bare NAME keeps its variants of NAME.
std::vector<ModelVariant> resolve_models(const std::vector<std::string>& tokens,
                                         const std::vector<ModelVariant>& registry,
                                         const std::vector<ModelVariant>* selected) {
  std::set<std::string> chosen;
  auto in_selection = [&](const ModelVariant& m) {
    return selected != nullptr && std::any_of(selected->begin(), selected->end(),
                                              [&](const ModelVariant& s) { return s.spec() == m.spec(); });
  };
  for (const std::string& token : tokens) {
    if (token == "all" || token == "defaults") {
      for (const ModelVariant& m : registry) {
        if (!m.peer && (token == "all" || m.is_default)) chosen.insert(m.spec());
      }
      continue;
    }
    std::size_t colon = token.find(':');
    std::string name = token.substr(0, colon);
    std::string variant = colon == std::string::npos ? "" : token.substr(colon + 1);
    std::vector<const ModelVariant*> rows;
    for (const ModelVariant& m : registry) {
      if (m.name == name) rows.push_back(&m);
    }
    if (rows.empty()) bad(fmt::format("unknown model '{}' (see bench_server --list-models)", token));
    std::size_t before = chosen.size();
    for (const ModelVariant* m : rows) {
      // A bare peer token is every peer: peers have no default variant.
      bool take = variant == "*" || m->variant == variant || (variant.empty() && (in_selection(*m) || m->peer));
      if (take) chosen.insert(m->spec());
    }
    if (variant.empty() && chosen.size() == before) {
      for (const ModelVariant* m : rows) {
        if (m->is_default) chosen.insert(m->spec());
      }
    }
    if (chosen.size() == before && !variant.empty() &&
        std::none_of(rows.begin(), rows.end(), [&](const ModelVariant* m) { return m->variant == variant; })) {
      bad(fmt::format("unknown model variant '{}' (see bench_server --list-models)", token));
    }
  }
  std::vector<ModelVariant> out;
  for (const ModelVariant& m : registry) {
    if (chosen.count(m.spec()) != 0) out.push_back(m);
  }
  return out;
}

void expand_group(const Group& g, const std::vector<ModelVariant>& models, Expanded& out,
                  std::set<std::string>& seen) {
  for (const ModelVariant& m : models) {
    for (const std::string& proto : g.protos) {
      auto unavailable = m.unavailable_protos.find(proto);
      // Echo cells vary the message size, HTTP cells the workload.
      std::size_t shapes = proto == "echo" ? g.msg_sizes.size() : g.workloads.size();
      for (int conns : g.connections) {
        for (std::size_t shape = 0; shape < shapes; ++shape) {
          for (double rate : g.rates) {
            Cell c;
            c.model = m.name;
            c.variant = m.variant;
            c.proto = proto;
            c.connections = conns;
            if (proto == "echo") {
              c.msg_size_bytes = g.msg_sizes[shape];
            } else {
              c.workload = g.workloads[shape];
              if (c.workload->kind == Workload::Kind::kFile) c.file_size_bytes = c.workload->file_size;
              c.backend_conns = g.backend_conns;
              if (c.reads_disk() && c.workload->disk.needs_memory_limit() && !g.server_memory) {
                bad(fmt::format("workload '{}' sizes its data set from the server's memory limit: "
                                "give --server-memory or the matrix's \"server_memory\"",
                                c.workload->spec));
              }
            }
            c.server_memory_bytes = g.server_memory;
            if (rate < 0) c.rate_of_capacity = -rate;
            else c.rate_per_s = rate;
            c.server_args = g.server_args;
            std::optional<std::string> skip;
            if (unavailable != m.unavailable_protos.end()) skip = unavailable->second;
            else if (m.peer && c.workload && (c.workload->kind == Workload::Kind::kApp ||
                                              c.workload->kind == Workload::Kind::kMix)) {
              skip = fmt::format("{} serves files: /app and mixes are bench_server's service handler", m.spec());
            }
            if (skip) {
              if (seen.insert("skip " + c.key()).second) out.skipped.push_back({c.key(), *skip});
              continue;
            }
            auto limit = g.max_connections.find(m.spec());
            if (limit != g.max_connections.end() && conns > limit->second) {
              if (seen.insert("skip " + c.key()).second) {
                out.skipped.push_back({c.key(), fmt::format("{} is limited to {} connections here",
                                                            m.spec(), limit->second)});
              }
              continue;
            }
            if (seen.insert(c.key()).second) out.cells.push_back(std::move(c));
          }
        }
      }
    }
  }
}

}  // namespace

std::vector<ModelVariant> parse_model_json(const std::string& text) {
  const char* what = "bench_server --list-models --json";
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) bad(fmt::format("{}: not a JSON array", what));
  std::vector<ModelVariant> out;
  for (const json& row : j) {
    auto text_of = [&](const char* key) {
      if (!row.is_object() || !row.contains(key) || !row[key].is_string()) {
        bad(fmt::format("{}: an entry lacks the string '{}'", what, key));
      }
      return row[key].get<std::string>();
    };
    auto flag_of = [&](const char* key) {
      if (!row.contains(key) || !row[key].is_boolean()) {
        bad(fmt::format("{}: an entry lacks the boolean '{}'", what, key));
      }
      return row[key].get<bool>();
    };
    ModelVariant m;
    m.name = text_of("name");
    m.variant = text_of("variant");
    m.is_default = flag_of("default");
    m.supported = flag_of("supported");
    if (row.contains("summary") && row["summary"].is_string()) m.summary = row["summary"].get<std::string>();
    if (row.contains("why_not") && row["why_not"].is_string()) m.why_unsupported = row["why_not"].get<std::string>();
    if (row.contains("app_wait") && row["app_wait"].is_string()) m.app_wait = row["app_wait"].get<std::string>();
    if (m.name.empty() || m.variant.empty()) bad(fmt::format("{}: an entry has an empty name or variant", what));
    out.push_back(m);
  }
  if (out.empty()) bad(fmt::format("{} printed no models", what));
  return out;
}

nlohmann::ordered_json models_to_json(const std::vector<ModelVariant>& models) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ModelVariant& m : models) {
    out.push_back({{"name", m.name},
                   {"variant", m.variant},
                   {"default", m.is_default},
                   {"summary", m.summary},
                   {"supported", m.supported},
                   {"why_not", m.supported ? nlohmann::ordered_json(nullptr)
                                           : nlohmann::ordered_json(m.why_unsupported)},
                   {"app_wait", m.app_wait.empty() ? nlohmann::ordered_json(nullptr)
                                                   : nlohmann::ordered_json(m.app_wait)},
                   {"peer", m.peer}});
  }
  return out;
}

std::vector<ModelVariant> query_models(const std::string& server_binary) {
  // stderr stays apart: a warning there must not break the JSON on stdout.
  std::string command = "'" + server_binary + "' --list-models --json 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + server_binary);
  std::string text;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(fmt::format("'{} --list-models --json' failed (exit status {})",
                                         server_binary, WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  }
  try {
    return parse_model_json(text);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
}

std::string Cell::key() const {
  std::string id = fmt::format("{}-{}_{}_c{}", model, variant, proto, connections);
  if (msg_size_bytes) id += fmt::format("_m{}", *msg_size_bytes);
  if (workload) id += fmt::format("_{}", workload->key_part());
  else if (file_size_bytes) id += fmt::format("_f{}", *file_size_bytes);
  if (backend_conns) id += fmt::format("_bc{}", *backend_conns);
  if (server_memory_bytes) id += "_mem" + units::format_size(*server_memory_bytes);
  if (!server_args.empty()) {
    // Groups that differ only in server options are different cells:
    // ["--workers", "16"] -> "_workers-16".
    id += "_";
    for (std::size_t i = 0; i < server_args.size(); ++i) {
      if (i > 0) id += '-';
      for (char ch : server_args[i]) {
        if (std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '.') id += ch;
      }
    }
  }
  if (rate_of_capacity) id += fmt::format("_open{}pct", static_cast<uint64_t>(std::llround(*rate_of_capacity * 100)));
  else id += open_loop() ? fmt::format("_open{}", static_cast<uint64_t>(std::llround(rate_per_s))) : "_closed";
  return id;
}

std::string Cell::capacity_twin() const {
  Cell closed = *this;
  closed.rate_of_capacity.reset();
  closed.rate_per_s = 0;
  return closed.key();
}

nlohmann::ordered_json Cell::to_json() const {
  nlohmann::ordered_json j;
  j["model"] = model;
  j["variant"] = variant;
  j["proto"] = proto;
  j["connections"] = connections;
  j["msg_size_bytes"] = msg_size_bytes ? json(*msg_size_bytes) : json(nullptr);
  j["file_size_bytes"] = file_size_bytes ? json(*file_size_bytes) : json(nullptr);
  j["workload"] = workload ? json(workload->spec) : json(nullptr);
  j["backend_conns"] = backend_conns ? json(*backend_conns) : json(nullptr);
  j["server_memory_bytes"] = server_memory_bytes ? json(*server_memory_bytes) : json(nullptr);
  j["server_args"] = server_args;
  j["load"] = load();
  j["rate_per_s"] = open_loop() && rate_per_s > 0 ? json(rate_per_s) : json(nullptr);
  j["rate_of_capacity"] = rate_of_capacity ? json(*rate_of_capacity) : json(nullptr);
  return j;
}

std::vector<std::string> profile_names() {
  std::vector<std::string> names;
  for (const EmbeddedProfile& p : embedded_profiles()) names.emplace_back(p.name);
  return names;
}

Matrix load_matrix(const std::string& profile_or_path) {
  for (const EmbeddedProfile& p : embedded_profiles()) {
    if (profile_or_path == p.name) {
      return parse_matrix(json::parse(p.json_text), profile_or_path);
    }
  }
  std::ifstream in(profile_or_path);
  if (!in) {
    bad(fmt::format("unknown profile '{}' (use {} or a matrix JSON file)", profile_or_path,
                    fmt::join(profile_names(), ", ")));
  }
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) bad(fmt::format("{}: not valid JSON", profile_or_path));
  return parse_matrix(j, profile_or_path);
}

Matrix parse_matrix(const json& j, const std::string& profile) {
  Matrix m;
  m.profile = profile;
  Group defaults;
  defaults.protos = {"echo", "http"};
  defaults.connections = {10, 100, 1000};
  defaults.msg_sizes = {64};
  defaults.workloads = {file_workload(1024)};
  defaults.rates = {0};
  if (j.is_object() && j.contains("mixes")) m.mixes = parse_mixes(j["mixes"]);
  m.base = parse_group(j, defaults, true, m.mixes);
  if (m.base.models.empty()) bad("matrix: 'models' is required");
  if (j.contains("description")) m.description = j["description"].get<std::string>();
  if (j.contains("repeat")) {
    if (!j["repeat"].is_number_integer() || j["repeat"].get<int>() < 1) bad("matrix: 'repeat' must be >= 1");
    m.repeat = j["repeat"].get<int>();
  }
  if (j.contains("duration")) m.duration = duration_of(j["duration"], "duration");
  if (j.contains("warmup")) m.warmup = duration_of(j["warmup"], "warmup");
  if (j.contains("loadgen_threads")) m.loadgen_threads = j["loadgen_threads"].get<int>();
  if (j.contains("connect_rate_per_s")) {
    try {
      m.connect_rate_per_s = parse_rate(as_text(j["connect_rate_per_s"], "connect_rate_per_s"));
    } catch (const std::invalid_argument& e) {
      bad(fmt::format("matrix: 'connect_rate_per_s': {}", e.what()));
    }
  }
  if (j.contains("microbench")) {
    if (!j["microbench"].is_boolean()) bad("matrix: 'microbench' must be true or false");
    m.microbench = j["microbench"].get<bool>();
  }
  // "peers": true tells ./run_all.sh to install the peers' packages first;
  // the harness itself finds the peers from the model tokens.
  if (j.contains("peers") && !j["peers"].is_boolean()) bad("matrix: 'peers' must be true or false");
  if (j.contains("client_hosts")) {
    if (!j["client_hosts"].is_array()) bad("matrix: 'client_hosts' must be an array of \"[user@]host[=SOURCE_IPS]\"");
    for (const json& h : j["client_hosts"]) {
      if (!h.is_string()) bad("matrix: 'client_hosts' must be an array of strings");
      try {
        m.client_hosts.push_back(parse_client_host(h.get<std::string>()));
      } catch (const std::invalid_argument& e) {
        bad(fmt::format("matrix: 'client_hosts': {}", e.what()));
      }
    }
  }
  if (j.contains("extra")) {
    if (!j["extra"].is_array()) bad("matrix: 'extra' must be an array of groups");
    for (const json& g : j["extra"]) m.extra.push_back(parse_group(g, m.base, false, m.mixes));
  }
  if (m.duration <= std::chrono::nanoseconds(0)) bad("matrix: 'duration' must be positive");
  return m;
}

void apply_overrides(Matrix& m, const Overrides& o) {
  std::optional<std::vector<Workload>> workloads;
  if (o.file_sizes) {
    workloads.emplace();
    for (uint64_t size : *o.file_sizes) workloads->push_back(file_workload(size));
  }
  if (o.workloads) {
    if (!workloads) workloads.emplace();
    for (const std::string& w : *o.workloads) workloads->push_back(parse_workload(w, m.mixes));
  }
  auto each_group = [&](auto&& f) {
    f(m.base);
    for (Group& g : m.extra) f(g);
  };
  each_group([&](Group& g) {
    if (o.protos) g.protos = *o.protos;
    if (o.connections) g.connections = *o.connections;
    if (o.msg_sizes) g.msg_sizes = *o.msg_sizes;
    if (workloads) g.workloads = *workloads;
    if (o.rates) g.rates = *o.rates;
    if (o.server_memory) g.server_memory = *o.server_memory;
  });
  if (o.repeat) m.repeat = *o.repeat;
  if (o.duration) m.duration = *o.duration;
  if (o.warmup) m.warmup = *o.warmup;
  if (o.loadgen_threads) m.loadgen_threads = *o.loadgen_threads;
  if (o.connect_rate_per_s) m.connect_rate_per_s = *o.connect_rate_per_s;
  if (o.client_hosts) m.client_hosts = *o.client_hosts;
}

Expanded expand(const Matrix& m, const std::vector<ModelVariant>& registry,
                const std::optional<std::vector<std::string>>& model_filter) {
  Expanded out;
  std::set<std::string> seen;
  std::vector<const Group*> groups = {&m.base};
  for (const Group& g : m.extra) groups.push_back(&g);
  for (const Group* g : groups) {
    for (const std::string& p : g->protos) {
      if (p != "echo" && p != "http") bad(fmt::format("unknown protocol '{}' (echo or http)", p));
    }
    std::vector<ModelVariant> models = resolve_models(g->models, registry, nullptr);
    if (model_filter) models = resolve_models(*model_filter, registry, &models);
    std::vector<ModelVariant> runnable;
    for (const ModelVariant& mv : models) {
      if (mv.supported) runnable.push_back(mv);
      else if (seen.insert("skip " + mv.spec()).second) out.skipped.push_back({mv.spec(), mv.why_unsupported});
    }
    expand_group(*g, runnable, out, seen);
  }
  return out;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (item.empty()) bad(fmt::format("empty item in list '{}'", text));
    out.push_back(item);
  }
  if (out.empty()) bad("empty list");
  return out;
}

std::vector<int> parse_connection_list(const std::string& text) {
  std::vector<int> out;
  for (const std::string& s : split_list(text)) out.push_back(parse_connections(s));
  return out;
}

std::vector<uint64_t> parse_size_list(const std::string& text) {
  std::vector<uint64_t> out;
  for (const std::string& s : split_list(text)) out.push_back(parse_msg_size(s));
  return out;
}

std::vector<Workload> parse_workload_list(const std::string& text, const Mixes& mixes) {
  std::vector<Workload> out;
  for (const std::string& s : split_list(text)) out.push_back(parse_workload(s, mixes));
  return out;
}

std::vector<double> parse_rate_list(const std::string& text) {
  std::vector<double> out;
  for (const std::string& s : split_list(text)) out.push_back(parse_rate(s));
  return out;
}

}  // namespace cb::harness
