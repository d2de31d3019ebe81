// memory_cgroup.cpp: see memory_cgroup.h.
#include "memory_cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "procfs.h"

namespace cb::harness {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

// The folder of cgroup path `path` in a hierarchy mounted at `mount_point`
// whose mount shows the hierarchy's `mount_root`.
std::optional<std::string> under_mount(const std::string& mount_point, const std::string& mount_root,
                                       const std::string& path) {
  if (mount_root == "/") return mount_point + (path == "/" ? "" : path);
  if (path.rfind(mount_root, 0) != 0) return std::nullopt;  // our cgroup is outside the mount
  return mount_point + path.substr(mount_root.size());
}

// Writes `text` to an existing cgroup file; errno-style message on failure.
std::optional<std::string> write_knob(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fmt::format("open {}: {}", path, std::strerror(errno));
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return fmt::format("write '{}' to {}: {}", text, path, std::strerror(err));
  return std::nullopt;
}

std::optional<uint64_t> read_number(const std::string& path) {
  std::optional<std::string> text = procfs::read_file(path);
  if (!text) return std::nullopt;
  try {
    return std::stoull(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "NAME VALUE" lines (memory.stat, memory.events).
std::optional<uint64_t> read_keyed(const std::string& path, const std::string& key) {
  std::optional<std::string> text = procfs::read_file(path);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string name;
  uint64_t value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return std::nullopt;
}

}  // namespace

CgroupLocation locate_memory_cgroup(const std::string& proc_self_cgroup, const std::string& mountinfo) {
  CgroupLocation loc;
  std::string v1_path, v2_path;
  bool v2 = false;
  for (const std::string& line : split(proc_self_cgroup, '\n')) {
    std::size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.substr(0, a) == "0" && controllers.empty()) {
      v2 = true;
      v2_path = path;
    }
    for (const std::string& c : split(controllers, ',')) {
      if (c == "memory") v1_path = path;
    }
  }
  // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
  for (const std::string& line : split(mountinfo, '\n')) {
    std::vector<std::string> f = split(line, ' ');
    std::size_t dash = 0;
    for (std::size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        dash = i;
        break;
      }
    }
    if (dash == 0 || dash + 3 >= f.size()) continue;  // FSTYPE SOURCE SUPER follow the dash
    const std::string &root = f[3], &point = f[4], &fstype = f[dash + 1], &super = f[dash + 3];
    if (!v1_path.empty() && fstype == "cgroup") {
      for (const std::string& o : split(super, ',')) {
        if (o != "memory") continue;
        if (auto dir = under_mount(point, root, v1_path)) {
          loc.version = 1;
          loc.dir = *dir;
          return loc;
        }
      }
    }
    if (v1_path.empty() && v2 && fstype == "cgroup2") {
      if (auto dir = under_mount(point, root, v2_path)) {
        loc.version = 2;
        loc.dir = *dir;
        return loc;
      }
    }
  }
  if (!v1_path.empty()) loc.why = "cgroup v1: the memory hierarchy of /proc/self/cgroup is not mounted here";
  else if (v2) loc.why = "cgroup v2: the unified hierarchy of /proc/self/cgroup is not mounted here";
  else loc.why = "no memory cgroup in /proc/self/cgroup";
  return loc;
}

CgroupLocation locate_memory_cgroup() {
  std::optional<std::string> self = procfs::read_file("/proc/self/cgroup");
  std::optional<std::string> mounts = procfs::read_file("/proc/self/mountinfo");
  if (!self || !mounts) return {0, "", "cannot read /proc/self/cgroup or /proc/self/mountinfo"};
  return locate_memory_cgroup(*self, *mounts);
}

CgroupLocation memory_cgroup_at(const std::string& dir) {
  CgroupLocation loc;
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) {
    loc.why = fmt::format("cgroup parent {}: {}", dir, std::strerror(errno));
    return loc;
  }
  struct stat st {};
  if (fs.f_type == CGROUP2_SUPER_MAGIC) {
    loc.version = 2;
  } else if (fs.f_type == CGROUP_SUPER_MAGIC && ::stat((dir + "/memory.limit_in_bytes").c_str(), &st) == 0) {
    loc.version = 1;
  } else {
    loc.why = fmt::format("cgroup parent {}: not a folder of a memory cgroup hierarchy", dir);
    return loc;
  }
  loc.dir = dir;
  return loc;
}

std::variant<MemoryCgroup, std::string> MemoryCgroup::create(uint64_t limit_bytes, const std::string& name,
                                                             const std::string& parent) {
  CgroupLocation loc = parent.empty() ? locate_memory_cgroup() : memory_cgroup_at(parent);
  if (loc.version == 0) return loc.why;
  std::string where = fmt::format("cgroup v{}", loc.version);
  if (loc.version == 2) {
    std::optional<std::string> controllers = procfs::read_file(loc.dir + "/cgroup.controllers");
    if (!controllers || controllers->find("memory") == std::string::npos) {
      return fmt::format("{}: the memory controller is not available in {}", where, loc.dir);
    }
    std::optional<std::string> subtree = procfs::read_file(loc.dir + "/cgroup.subtree_control");
    if (!subtree || subtree->find("memory") == std::string::npos) {
      if (auto failed = write_knob(loc.dir + "/cgroup.subtree_control", "+memory")) {
        return fmt::format("{}: cannot enable memory for child cgroups ({}); run the harness in a "
                           "delegated cgroup of its own, e.g. systemd-run --scope -p Delegate=yes",
                           where, *failed);
      }
    }
  }
  MemoryCgroup g;
  g.version_ = loc.version;
  g.dir_ = loc.dir + "/" + name;
  g.limit_ = limit_bytes;
  if (::mkdir(g.dir_.c_str(), 0755) != 0) {
    return fmt::format("{}: cannot create {}: {}", where, g.dir_, std::strerror(errno));
  }
  const char* knob = loc.version == 1 ? "/memory.limit_in_bytes" : "/memory.max";
  std::optional<std::string> failed = write_knob(g.dir_ + knob, std::to_string(limit_bytes));
  if (!failed && loc.version == 2) {
    // No swap to spill into: the limit is the whole budget, as in v1
    // without memsw. (memory.swap.max is missing without swap accounting.)
    struct stat st {};
    if (::stat((g.dir_ + "/memory.swap.max").c_str(), &st) == 0) failed = write_knob(g.dir_ + "/memory.swap.max", "0");
  }
  if (!failed) {
    g.procs_ = Fd(::open((g.dir_ + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (!g.procs_) failed = fmt::format("open {}/cgroup.procs: {}", g.dir_, std::strerror(errno));
  }
  if (failed) {
    ::rmdir(g.dir_.c_str());
    g.dir_.clear();
    return fmt::format("{}: {}", where, *failed);
  }
  return std::variant<MemoryCgroup, std::string>(std::in_place_index<0>, std::move(g));
}

std::optional<std::string> MemoryCgroup::unavailable(const std::string& parent) {
  auto made = create(64ull << 20, fmt::format("cb-probe-{}", ::getpid()), parent);
  if (auto* why = std::get_if<std::string>(&made)) return *why;
  return std::nullopt;
}

MemoryCgroup::MemoryCgroup(MemoryCgroup&& other) noexcept
    : version_(other.version_), dir_(std::move(other.dir_)), limit_(other.limit_), procs_(std::move(other.procs_)) {
  other.dir_.clear();
}

MemoryCgroup::~MemoryCgroup() {
  if (dir_.empty()) return;
  procs_ = Fd();
  // The last task of the group may still be exiting: retry for a second.
  for (int i = 0; i < 100; ++i) {
    if (::rmdir(dir_.c_str()) == 0 || errno == ENOENT) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

CgroupStats MemoryCgroup::stats() const {
  CgroupStats s;
  if (version_ == 1) {
    s.peak_bytes = read_number(dir_ + "/memory.max_usage_in_bytes");
    s.cache_bytes = read_keyed(dir_ + "/memory.stat", "cache");
    s.limit_hits = read_number(dir_ + "/memory.failcnt");
  } else {
    s.peak_bytes = read_number(dir_ + "/memory.peak");
    s.cache_bytes = read_keyed(dir_ + "/memory.stat", "file");
    s.limit_hits = read_keyed(dir_ + "/memory.events", "max");
  }
  return s;
}

int MemoryCgroup::processes() const {
  std::optional<std::string> text = procfs::read_file(dir_ + "/cgroup.procs");
  if (!text) return 0;
  int n = 0;
  for (char c : *text) n += c == '\n';
  return n;
}

bool join_cgroup(int procs_fd) {
  char digits[24];
  char* end = digits + sizeof digits;
  char* p = end;
  *--p = '\n';
  for (pid_t pid = ::getpid(); pid > 0; pid /= 10) *--p = static_cast<char>('0' + pid % 10);
  return ::write(procs_fd, p, static_cast<std::size_t>(end - p)) == end - p;
}

}  // namespace cb::harness
