// child_process.cpp: see child_process.h.
#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "common/status.h"
#include "memory_cgroup.h"

namespace cb::harness {

Fd make_memfd(const char* name) {
  Fd fd(::memfd_create(name, MFD_CLOEXEC));
  if (!fd) throw SysError(fmt::format("memfd_create({})", name), errno);
  return fd;
}

std::string read_memfd(int fd) {
  std::string out;
  char buf[4096];
  for (off_t at = 0;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    at += n;
  }
  return out;
}

void exec_child(pid_t parent, const cpu_set_t* cpus, int out_fd, int err_fd, char* const* argv,
                std::string_view pin_failed, std::string_view exec_failed, int cgroup_procs_fd) {
  ::setpgid(0, 0);
  if (cgroup_procs_fd >= 0 && !join_cgroup(cgroup_procs_fd)) {
    static constexpr char kMessage[] = "harness: the child could not join its memory cgroup\n";
    (void)!::write(err_fd, kMessage, sizeof kMessage - 1);
    ::_exit(126);
  }
  if (cpus != nullptr && ::sched_setaffinity(0, sizeof(cpu_set_t), cpus) != 0) {
    (void)!::write(err_fd, pin_failed.data(), pin_failed.size());
    ::_exit(126);
  }
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(126);  // the harness died before prctl
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(err_fd, STDERR_FILENO);
  ::execv(argv[0], argv);
  (void)!::write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
  ::_exit(127);
}

}  // namespace cb::harness
