// bench_util.cpp: pinning, loop clock, child processes, /proc readers and
// the context notes shared by every micro-benchmark binary.
#include "bench_util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#ifndef CB_BUILD_TYPE
#define CB_BUILD_TYPE "unknown"
#endif

namespace cb::bench {

std::optional<CpuPair> cpus_for(Placement placement) {
  std::vector<int> cpus = allowed_cpus();
  if (cpus.empty()) return std::nullopt;
  if (placement == Placement::kSameCpu) return CpuPair{cpus[0], cpus[0]};
  if (cpus.size() < 2) return std::nullopt;
  return CpuPair{cpus[0], cpus[1]};
}

ScopedPin::ScopedPin(int cpu) {
  CPU_ZERO(&saved_);
  saved_ok_ = ::pthread_getaffinity_np(::pthread_self(), sizeof(saved_), &saved_) == 0;
  ok_ = saved_ok_ && pin_current_thread({cpu});
}

ScopedPin::~ScopedPin() {
  if (saved_ok_) ::pthread_setaffinity_np(::pthread_self(), sizeof(saved_), &saved_);
}

void LoopClock::report_ns(benchmark::State& state, const char* key,
                          double ops_per_iteration) const {
  auto elapsed = std::chrono::steady_clock::now() - start_;
  double ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  double ops = static_cast<double>(state.iterations()) * ops_per_iteration;
  if (ops > 0) state.counters[key] = ns / ops;
}

Child::Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
  }
  return *this;
}

Child::~Child() { kill_and_reap(); }

bool Child::wait() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  pid_ = -1;
  return r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void Child::kill_and_reap() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait();
}

namespace {

std::string proc_path(pid_t pid, const char* file) {
  return pid == 0 ? std::string("/proc/self/") + file
                  : "/proc/" + std::to_string(pid) + "/" + file;
}

// The number after "Name:" in a "Name:   123 kB" line of a /proc file.
int64_t kb_field(const std::string& path, const char* field) {
  std::ifstream in(path);
  if (!in) return -1;
  std::string want = std::string(field) + ":";
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, want.size(), want) != 0) continue;
    std::istringstream rest(line.substr(want.size()));
    int64_t kb = -1;
    rest >> kb;
    return rest ? kb : -1;
  }
  return -1;
}

std::string kernel_release() {
  utsname u{};
  if (::uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release;
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (int cpu : cpus) {
    if (!out.empty()) out += ',';
    out += std::to_string(cpu);
  }
  return out;
}

}  // namespace

int64_t pss_kb(pid_t pid) { return kb_field(proc_path(pid, "smaps_rollup"), "Pss"); }

int64_t status_kb(const char* field, pid_t pid) {
  return kb_field(proc_path(pid, "status"), field);
}

int64_t meminfo_kb(const char* field) { return kb_field("/proc/meminfo", field); }

void add_context() {
  benchmark::AddCustomContext(
      "library_build_note",
      "Debian's libbenchmark is compiled without NDEBUG, so it reports "
      "library_build_type=debug ('Library was built as DEBUG'). That concerns "
      "only the library's own bookkeeping outside the timed loops; the measured "
      "code is this project's build (bench_build_type).");
  benchmark::AddCustomContext("bench_build_type", CB_BUILD_TYPE);
  benchmark::AddCustomContext("compiler", "g++ " __VERSION__);
  benchmark::AddCustomContext("kernel", kernel_release());
  benchmark::AddCustomContext("cpus_allowed", cpu_list(allowed_cpus()));
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    benchmark::AddCustomContext("nofile_limit", std::to_string(nofile.rlim_cur));
  }
  benchmark::AddCustomContext(
      "time_note",
      "real_time is wall-clock time per iteration. BM_Switch: one iteration is a "
      "round trip (2 switches; ns_per_switch = half). BM_Readiness: one loop turn "
      "as in libevent's bench (write to the active fds, one wait call, read them); "
      "the wait call alone is ns_per_wait. "
      "BM_Memory: the figures are the counters (kB per idle item), not the time.");
}

}  // namespace cb::bench
