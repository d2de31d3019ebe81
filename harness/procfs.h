// procfs.h: the few /proc readings the harness needs about the server tree,
// parsed from the kernel's text formats (proc(5)).
//
// Every reader returns std::nullopt when the file is gone: processes and
// threads come and go while the harness samples them, so a vanished entry is
// ordinary and never an error.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cb::harness::procfs {

// The fields of /proc/PID/stat the harness uses. utime/stime are the whole
// thread group's, including threads that already exited (the kernel keeps
// those in the signal struct); they exclude waited-for children.
struct ProcStat {
  pid_t pid = 0;
  char state = '?';
  pid_t ppid = 0;
  pid_t pgrp = 0;
  uint64_t utime_ticks = 0;  // clock ticks (sysconf(_SC_CLK_TCK))
  uint64_t stime_ticks = 0;
  int64_t num_threads = 0;
};

// Voluntary and involuntary context switches of one task (thread).
struct ContextSwitches {
  uint64_t voluntary = 0;
  uint64_t involuntary = 0;
};

// Whole file, or nullopt if it cannot be opened or read.
std::optional<std::string> read_file(const std::string& path);

// "pid (comm) S ppid ..." — comm may hold spaces and parentheses.
std::optional<ProcStat> parse_stat(std::string_view text);
std::optional<ProcStat> read_stat(pid_t pid);

// The "Pss:" line of /proc/PID/smaps_rollup (KiB).
std::optional<uint64_t> parse_pss_kb(std::string_view smaps_rollup);
std::optional<uint64_t> read_pss_kb(pid_t pid);

// The "read_bytes:" line of /proc/PID/io: bytes the process (all its
// threads, exited ones included) made the storage layer fetch.
std::optional<uint64_t> parse_io_read_bytes(std::string_view io);
std::optional<uint64_t> read_io_read_bytes(pid_t pid);

// voluntary_ctxt_switches / nonvoluntary_ctxt_switches of a status file.
std::optional<ContextSwitches> parse_context_switches(std::string_view status);
// /proc/PID/task/TID/status: one thread's own switches.
std::optional<ContextSwitches> read_task_switches(pid_t pid, pid_t tid);

// Numeric entries of a /proc directory (/proc itself, /proc/PID/task).
std::vector<pid_t> list_numeric_dir(const std::string& path);
inline std::vector<pid_t> list_tasks(pid_t pid) {
  return list_numeric_dir("/proc/" + std::to_string(pid) + "/task");
}

// `root` and every descendant (by parent pid), root first; empty if root is
// gone. The kernel here may lack /proc/PID/task/TID/children, so this scans
// /proc once: one stat read per process on the machine.
std::vector<ProcStat> process_tree(pid_t root);

long clock_ticks_per_s();

}  // namespace cb::harness::procfs
