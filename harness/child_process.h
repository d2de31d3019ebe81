// child_process.h: what the harness needs to run a child it measures (the
// server, the backend): memfds that keep the child's whole stdout/stderr
// readable at any time, and the fork side of starting it (own process
// group, pinning, no core dumps, killed with the harness).
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/fd.h"

namespace cb::harness {

// A memfd to hand a child as its stdout or stderr; throws SysError.
Fd make_memfd(const char* name);
// Everything written to the memfd so far.
std::string read_memfd(int fd);

// In the child, between fork and exec: only async-signal-safe calls, since
// the harness has threads. `what` names the child in the two messages it
// may write ("server", "backend"); built before the fork. With
// `cgroup_procs_fd` >= 0 the child first joins that cgroup (its
// cgroup.procs, memory_cgroup.h), so it is charged from its first page.
[[noreturn]] void exec_child(pid_t parent, const cpu_set_t* cpus, int out_fd, int err_fd,
                             char* const* argv, std::string_view pin_failed,
                             std::string_view exec_failed, int cgroup_procs_fd = -1);

}  // namespace cb::harness
