// procfs.cpp: see procfs.h.
#include "procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <unordered_map>

#include "common/fd.h"

namespace cb::harness::procfs {
namespace {

// Parses the unsigned decimal at the start of `text`, skipping blanks.
template <class T>
std::optional<T> parse_number(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  T value{};
  auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data() + i) return std::nullopt;
  return value;
}

// The value after "Key:" on the line that starts with `key`.
std::optional<uint64_t> field_after(std::string_view text, std::string_view key) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t eol = text.find('\n', at);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(at, eol - at);
    if (line.substr(0, key.size()) == key) return parse_number<uint64_t>(line.substr(key.size()));
    at = eol + 1;
  }
  return std::nullopt;
}

// Splits the fields after "(comm) " on single spaces.
std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t sp = text.find(' ', at);
    if (sp == std::string_view::npos) sp = text.size();
    fields.push_back(text.substr(at, sp - at));
    at = sp + 1;
  }
  return fields;
}

}  // namespace

std::optional<std::string> read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;  // e.g. ESRCH: the process went away mid-read
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<ProcStat> parse_stat(std::string_view text) {
  std::size_t open = text.find('(');
  std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close + 2 > text.size()) {
    return std::nullopt;
  }
  auto pid = parse_number<pid_t>(text.substr(0, open));
  // Field 3 (state) is fields[0]; utime is field 14, num_threads field 20.
  std::vector<std::string_view> f = split_fields(text.substr(close + 2));
  if (!pid || f.size() < 18 || f[0].empty()) return std::nullopt;
  auto ppid = parse_number<pid_t>(f[1]);
  auto pgrp = parse_number<pid_t>(f[2]);
  auto utime = parse_number<uint64_t>(f[11]);
  auto stime = parse_number<uint64_t>(f[12]);
  auto threads = parse_number<int64_t>(f[17]);
  if (!ppid || !pgrp || !utime || !stime || !threads) return std::nullopt;
  return ProcStat{*pid, f[0][0], *ppid, *pgrp, *utime, *stime, *threads};
}

std::optional<ProcStat> read_stat(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  return parse_stat(*text);
}

std::optional<uint64_t> parse_pss_kb(std::string_view smaps_rollup) {
  return field_after(smaps_rollup, "Pss:");
}

std::optional<uint64_t> read_pss_kb(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!text) return std::nullopt;
  return parse_pss_kb(*text);
}

std::optional<uint64_t> parse_io_read_bytes(std::string_view io) {
  // Lines are matched from their start: "read_bytes:" is not "rchar:".
  return field_after(io, "read_bytes:");
}

std::optional<uint64_t> read_io_read_bytes(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/io");
  if (!text) return std::nullopt;
  return parse_io_read_bytes(*text);
}

std::optional<ContextSwitches> parse_context_switches(std::string_view status) {
  auto vol = field_after(status, "voluntary_ctxt_switches:");
  auto invol = field_after(status, "nonvoluntary_ctxt_switches:");
  if (!vol || !invol) return std::nullopt;
  return ContextSwitches{*vol, *invol};
}

std::optional<ContextSwitches> read_task_switches(pid_t pid, pid_t tid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status");
  if (!text) return std::nullopt;
  return parse_context_switches(*text);
}

std::vector<pid_t> list_numeric_dir(const std::string& path) {
  std::vector<pid_t> ids;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return ids;
  while (const dirent* e = ::readdir(dir)) {
    if (auto id = parse_number<pid_t>(e->d_name); id && *id > 0) ids.push_back(*id);
  }
  ::closedir(dir);
  return ids;
}

std::vector<ProcStat> process_tree(pid_t root) {
  std::unordered_map<pid_t, std::vector<ProcStat>> by_parent;
  std::optional<ProcStat> root_stat;
  for (pid_t pid : list_numeric_dir("/proc")) {
    auto st = read_stat(pid);
    if (!st) continue;
    if (st->pid == root) root_stat = st;
    by_parent[st->ppid].push_back(*st);
  }
  std::vector<ProcStat> tree;
  if (!root_stat) return tree;
  tree.push_back(*root_stat);
  for (std::size_t i = 0; i < tree.size(); ++i) {  // breadth first; grows as it goes
    auto kids = by_parent.find(tree[i].pid);
    if (kids == by_parent.end()) continue;
    tree.insert(tree.end(), kids->second.begin(), kids->second.end());
  }
  return tree;
}

long clock_ticks_per_s() {
  static const long ticks = [] {
    long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? t : 100;
  }();
  return ticks;
}

}  // namespace cb::harness::procfs
