// workload.cpp: see workload.h.
#include "workload.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "common/units.h"
#include "workspace.h"

namespace cb::harness {
namespace {

[[noreturn]] void bad(const std::string& why) { throw std::invalid_argument(why); }

bool valid_mix_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_' && c != '-') return false;
  }
  return true;
}

// A path the load generator can put on a request line as it is.
void check_path(const std::string& path, const std::string& where) {
  if (path.empty() || path.front() != '/') bad(fmt::format("{}: path '{}' must start with '/'", where, path));
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      bad(fmt::format("{}: path '{}' holds a space or control character", where, path));
    }
  }
  if (path.rfind("/app?", 0) == 0) {
    try {
      parse_app_query(path.substr(5));
    } catch (const std::invalid_argument& e) {
      bad(fmt::format("{}: {}", where, e.what()));
    }
  }
}

double parse_number(const std::string& text, const std::string& what) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    bad(fmt::format("{}: '{}' is not a number", what, text));
  }
  return v;
}

bool path_makes_calls(const std::string& path) {
  return path.rfind("/app?", 0) == 0 && parse_app_query(path.substr(5)).calls > 0;
}

}  // namespace

const char* Workload::kind_name() const {
  switch (kind) {
    case Kind::kFile: return "file";
    case Kind::kApp: return "app";
    case Kind::kMix: return "mix";
    case Kind::kDisk: return "disk";
  }
  return "?";
}

bool Workload::makes_calls() const {
  for (const WeightedPath& p : paths) {
    if (path_makes_calls(p.path)) return true;
  }
  return false;
}

std::string Workload::key_part() const {
  switch (kind) {
    case Kind::kFile: return fmt::format("f{}", file_size);
    case Kind::kMix: return "mix-" + mix;
    case Kind::kApp:
    case Kind::kDisk: break;
  }
  // "app:calls=1&delay_us=10" -> "app-calls1-delay_us10": run ids name files.
  std::size_t colon = spec.find(':');
  std::string out = spec.substr(0, colon);
  std::string query = spec.substr(colon + 1);
  if (!query.empty()) out += '-';
  for (char c : query) {
    if (c == '&') out += '-';
    else if (c != '=') out += c;
  }
  return out;
}

std::string DatasetSpec::canonical() const {
  std::string out;
  if (files > 0) out = fmt::format("files={}", files);
  else if (total_bytes > 0) out = "total=" + units::format_size(total_bytes);
  else out = fmt::format("total={}x", total_ratio);
  out += specweb ? "&size=specweb" : "&size=" + units::format_size(file_size);
  out += fmt::format("&zipf={}", zipf_alpha);
  return out;
}

DatasetSpec parse_dataset_spec(const std::string& query) {
  DatasetSpec s;
  std::set<std::string> seen;
  std::string where = fmt::format("disk query '{}'", query);
  std::size_t at = 0;
  bool sized = false;
  for (;;) {
    std::size_t amp = query.find('&', at);
    std::string pair = query.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
    std::size_t eq = pair.find('=');
    if (pair.empty() || eq == std::string::npos) bad(fmt::format("{}: '{}' is not NAME=VALUE", where, pair));
    std::string name = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (!seen.insert(name).second) bad(fmt::format("{}: '{}' given twice", where, name));
    try {
      if (name == "files") {
        s.files = units::parse_count(value);
        if (s.files == 0 || s.files > kMaxDatasetFiles) {
          bad(fmt::format("files must be 1..{}", kMaxDatasetFiles));
        }
      } else if (name == "total") {
        if (!value.empty() && value.back() == 'x') {
          s.total_ratio = parse_number(value.substr(0, value.size() - 1), "total");
          if (s.total_ratio <= 0 || s.total_ratio > 1000) bad("a total ratio must be above 0 and at most 1000x");
        } else {
          s.total_bytes = units::parse_size(value);
          if (s.total_bytes == 0) bad("total must be at least 1 byte");
        }
      } else if (name == "size") {
        sized = true;
        if (value == "specweb") {
          s.specweb = true;
        } else {
          s.file_size = units::parse_size(value);
          if (s.file_size == 0 || s.file_size > (uint64_t{1} << 30)) bad("size must be 1 B..1 GiB or specweb");
        }
      } else if (name == "zipf") {
        s.zipf_alpha = parse_number(value, "zipf");
        if (s.zipf_alpha < 0 || s.zipf_alpha > kMaxZipfAlpha) bad(fmt::format("zipf must be 0..{}", kMaxZipfAlpha));
      } else {
        bad(fmt::format("unknown name '{}' (files, total, size, zipf)", name));
      }
    } catch (const std::invalid_argument& e) {
      if (std::string(e.what()).rfind(where, 0) == 0) throw;
      bad(fmt::format("{}: {}", where, e.what()));
    }
    if (amp == std::string::npos) break;
    at = amp + 1;
  }
  int amounts = (s.files > 0) + (s.total_bytes > 0) + (s.total_ratio > 0);
  if (amounts != 1) bad(fmt::format("{}: give exactly one of files=N, total=SIZE or total=RATIOx", where));
  if (!sized) bad(fmt::format("{}: size=SIZE or size=specweb is required", where));
  return s;
}

AppQuery parse_app_query(const std::string& query) {
  AppQuery q;
  std::set<std::string> seen;
  std::size_t at = 0;
  if (query.empty()) return q;
  for (;;) {
    std::size_t amp = query.find('&', at);
    std::string pair = query.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
    std::size_t eq = pair.find('=');
    if (pair.empty() || eq == std::string::npos) {
      bad(fmt::format("app query '{}': '{}' is not NAME=NUMBER", query, pair));
    }
    std::string name = pair.substr(0, eq), value = pair.substr(eq + 1);
    uint64_t* field = nullptr;
    uint64_t limit = 0;
    if (name == "cpu_us") field = &q.cpu_us, limit = kMaxAppCpuUs;
    else if (name == "calls") field = &q.calls, limit = kMaxAppCalls;
    else if (name == "delay_us") field = &q.delay_us, limit = kMaxAppDelayUs;
    else if (name == "bytes") field = &q.bytes, limit = kMaxAppBytes;
    else bad(fmt::format("app query '{}': unknown name '{}' (cpu_us, calls, delay_us, bytes)", query, name));
    if (!seen.insert(name).second) bad(fmt::format("app query '{}': '{}' given twice", query, name));
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
      bad(fmt::format("app query '{}': '{}' is not a plain decimal number", query, value));
    }
    if (n > limit) bad(fmt::format("app query '{}': {} must be at most {}", query, name, limit));
    *field = n;
    if (amp == std::string::npos) break;
    at = amp + 1;
  }
  return q;
}

Workload file_workload(uint64_t bytes) {
  Workload w;
  w.kind = Workload::Kind::kFile;
  w.file_size = bytes;
  w.spec = "file:" + units::format_size(bytes);
  w.paths = {{docroot_path_for(bytes), 1}};
  return w;
}

Workload parse_workload(const std::string& text, const Mixes& mixes) {
  std::size_t colon = text.find(':');
  std::string kind = text.substr(0, colon);
  std::string arg = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (colon == std::string::npos) {
    bad(fmt::format("workload '{}': expected file:SIZE, app:QUERY, mix:NAME or disk:QUERY", text));
  }
  if (kind == "file") {
    uint64_t bytes = 0;
    try {
      bytes = units::parse_size(arg);
    } catch (const std::invalid_argument& e) {
      bad(fmt::format("workload '{}': {}", text, e.what()));
    }
    if (bytes == 0) bad(fmt::format("workload '{}': the file must hold at least 1 byte", text));
    return file_workload(bytes);
  }
  if (kind == "app") {
    try {
      parse_app_query(arg);
    } catch (const std::invalid_argument& e) {
      bad(fmt::format("workload '{}': {}", text, e.what()));
    }
    Workload w;
    w.kind = Workload::Kind::kApp;
    w.spec = text;
    w.paths = {{"/app?" + arg, 1}};
    return w;
  }
  if (kind == "mix") {
    auto it = mixes.find(arg);
    if (it == mixes.end()) bad(fmt::format("workload '{}': no mix '{}' in the matrix's \"mixes\"", text, arg));
    Workload w;
    w.kind = Workload::Kind::kMix;
    w.spec = text;
    w.mix = arg;
    w.paths = it->second;
    return w;
  }
  if (kind == "disk") {
    Workload w;
    w.kind = Workload::Kind::kDisk;
    try {
      w.disk = parse_dataset_spec(arg);
    } catch (const std::invalid_argument& e) {
      bad(fmt::format("workload '{}': {}", text, e.what()));
    }
    w.spec = "disk:" + w.disk.canonical();
    return w;
  }
  bad(fmt::format("workload '{}': unknown kind '{}' (file, app, mix or disk)", text, kind));
}

Mixes parse_mixes(const nlohmann::json& j) {
  if (!j.is_object()) bad("matrix: 'mixes' must map names to arrays of {\"path\", \"weight\"}");
  Mixes out;
  for (const auto& [name, entries] : j.items()) {
    std::string where = fmt::format("matrix: mix '{}'", name);
    if (!valid_mix_name(name)) bad(fmt::format("{}: names are letters, digits, '_' and '-'", where));
    if (!entries.is_array() || entries.empty()) bad(fmt::format("{}: must be a non-empty array", where));
    std::vector<WeightedPath> paths;
    for (const auto& e : entries) {
      if (!e.is_object() || !e.contains("path") || !e["path"].is_string()) {
        bad(fmt::format("{}: each entry needs a string \"path\"", where));
      }
      for (const auto& [key, value] : e.items()) {
        if (key != "path" && key != "weight") bad(fmt::format("{}: unknown key '{}'", where, key));
      }
      WeightedPath p;
      p.path = e["path"].get<std::string>();
      check_path(p.path, where);
      if (e.contains("weight")) {
        const auto& w = e["weight"];
        if (!w.is_number_integer() || w.get<int64_t>() < 1 || w.get<int64_t>() > 1'000'000) {
          bad(fmt::format("{}: weight must be an integer 1..1000000", where));
        }
        p.weight = static_cast<uint32_t>(w.get<int64_t>());
      }
      paths.push_back(p);
    }
    out[name] = paths;
  }
  return out;
}

nlohmann::ordered_json mixes_to_json(const Mixes& mixes) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [name, paths] : mixes) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const WeightedPath& p : paths) list.push_back({{"path", p.path}, {"weight", p.weight}});
    out[name] = list;
  }
  return out;
}

}  // namespace cb::harness
