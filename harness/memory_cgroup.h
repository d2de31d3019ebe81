// memory_cgroup.h: a memory cgroup of its own for one server run, so the
// server's memory, page cache included, is capped (--server-memory). The
// page cache a process fills is charged to its cgroup, so the limit bounds
// how much of a disk data set the server can keep cached.
//
// Both hierarchies Linux machines use:
//  * v1 (a "memory" controller line in /proc/self/cgroup): the child goes
//    under the harness's own memory cgroup; memory.limit_in_bytes caps it,
//    memory.max_usage_in_bytes is its peak, memory.failcnt counts the times
//    it hit the cap (reclaim), memory.stat's "cache" the page cache.
//  * v2 (the "0::" line): the child goes under the harness's own cgroup,
//    whose cgroup.subtree_control must enable "memory"; memory.max caps it,
//    memory.peak (Linux 5.19+) is its peak, memory.events' "max" counts hits,
//    memory.stat's "file" the page cache. The v2 rule that a cgroup with
//    controllers for its children holds no processes itself means this
//    works where the harness runs in a delegated cgroup of its own
//    (systemd-run --scope -p Delegate=yes); elsewhere create() says why not.
//
// The server joins between fork and exec (child_process.h writes its pid
// to procs_fd()), so everything it and its children allocate is charged
// from the first page. The directory is removed in the destructor, after
// the server is gone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "common/fd.h"

namespace cb::harness {

// Where the harness's memory cgroup lives, from /proc/self/cgroup and
// /proc/self/mountinfo (parsed apart so tests can feed text).
struct CgroupLocation {
  int version = 0;   // 1 or 2; 0: no memory cgroup found
  std::string dir;   // the harness's own cgroup folder
  std::string why;   // when version == 0
};
CgroupLocation locate_memory_cgroup(const std::string& proc_self_cgroup, const std::string& mountinfo);
CgroupLocation locate_memory_cgroup();  // this process's
// A cgroup folder given by the user (--cgroup-parent): its hierarchy from
// the filesystem it is on.
CgroupLocation memory_cgroup_at(const std::string& dir);

struct CgroupStats {
  std::optional<uint64_t> peak_bytes;       // max usage since creation
  std::optional<uint64_t> cache_bytes;      // page cache charged now
  std::optional<uint64_t> limit_hits;       // failcnt (v1) / events "max" (v2)
};

class MemoryCgroup {
 public:
  // Creates <parent>/<name> with `limit_bytes`, the parent being `parent`
  // or, when empty, the harness's own memory cgroup; on failure returns a
  // one-line reason ("cgroup v2: cannot enable memory under ...").
  static std::variant<MemoryCgroup, std::string> create(uint64_t limit_bytes, const std::string& name,
                                                       const std::string& parent = "");
  // Whether a memory cgroup can be made there: nullopt if yes, else why not
  // (makes and removes a probe cgroup).
  static std::optional<std::string> unavailable(const std::string& parent = "");

  MemoryCgroup(MemoryCgroup&& other) noexcept;
  MemoryCgroup& operator=(MemoryCgroup&&) = delete;
  MemoryCgroup(const MemoryCgroup&) = delete;
  ~MemoryCgroup();  // rmdir, retried briefly (the last task may still be exiting)

  int version() const { return version_; }
  const std::string& dir() const { return dir_; }
  uint64_t limit_bytes() const { return limit_; }
  // cgroup.procs opened for writing (O_CLOEXEC): a child writes its pid.
  int procs_fd() const { return procs_.get(); }
  CgroupStats stats() const;
  // Processes in the cgroup now (cgroup.procs lines).
  int processes() const;

 private:
  MemoryCgroup() = default;
  int version_ = 0;
  std::string dir_;
  uint64_t limit_ = 0;
  Fd procs_;
};

// Writes the calling process's pid to `procs_fd`: async-signal-safe, for
// the child between fork and exec. False if the kernel refused.
bool join_cgroup(int procs_fd);

}  // namespace cb::harness
