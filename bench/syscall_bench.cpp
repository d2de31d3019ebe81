// syscall_bench.cpp: the floor every server figure stands on: what one trivial
// system call costs on this machine, and one TCP round trip over loopback.
//   build/bench/syscall_bench [--benchmark_format=json]
// Names:
//   BM_Floor/syscall_getppid       syscall(SYS_getppid): into the kernel and
//                                  back, nothing done there (called through
//                                  syscall() so no libc cache can answer)
//   BM_Floor/clock_gettime_vdso    CLOCK_MONOTONIC, answered in user space by
//                                  the vDSO: what a call costs without a
//                                  kernel entry
//   BM_Floor/tcp_rtt/{same_cpu,cross_cpu}  1 byte written, echoed by a
//                                  thread, read back, over 127.0.0.1 with
//                                  TCP_NODELAY; both ends on one CPU or two
// No request/response server in this project can answer faster than
// tcp_rtt, nor do a request in fewer CPU-µs than a few syscalls.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>
#include <exception>
#include <thread>

#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "common/fd.h"
#include "common/socket.h"

namespace {

using cb::bench::Placement;

void BM_SyscallGetppid(benchmark::State& state) {
  for (auto _ : state) {
    long parent = ::syscall(SYS_getppid);
    benchmark::DoNotOptimize(parent);
  }
}
BENCHMARK(BM_SyscallGetppid)->Name("BM_Floor/syscall_getppid")->UseRealTime();

void BM_ClockGettime(benchmark::State& state) {
  for (auto _ : state) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_ClockGettime)->Name("BM_Floor/clock_gettime_vdso")->UseRealTime();

// Accepts one connection and echoes it byte by byte until it closes.
void echo_one_connection(int listener, int cpu) {
  cb::pin_current_thread({cpu});
  cb::Fd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) return;  // the client's connect or first read fails and reports it
  char byte;
  while (::read(conn.get(), &byte, 1) == 1) {
    if (::write(conn.get(), &byte, 1) != 1) return;
  }
}

void tcp_ping_pong(benchmark::State& state, int server_cpu) {
  // Connected before the echo thread starts (the backlog completes the
  // handshake), so a setup failure throws with no thread to clean up.
  cb::Fd listener = cb::listen_tcp(cb::ListenOptions{});
  cb::Fd client = cb::connect_tcp("127.0.0.1", cb::local_port(listener.get()));
  std::thread server(echo_one_connection, listener.get(), server_cpu);
  for (auto _ : state) {
    char byte = 'p';
    if (::write(client.get(), &byte, 1) != 1 || ::read(client.get(), &byte, 1) != 1) {
      state.SkipWithError("loopback ping-pong: a write or read failed");
      break;
    }
  }
  client.reset();  // the echo thread sees EOF and returns
  server.join();
}

void BM_TcpRoundTrip(benchmark::State& state, Placement placement) {
  auto cpus = cb::bench::cpus_for(placement);
  if (!cpus) return state.SkipWithError("needs two allowed CPUs");
  cb::bench::ScopedPin pin(cpus->first);
  if (!pin.ok()) return state.SkipWithError("could not pin to a CPU");
  try {
    tcp_ping_pong(state, cpus->second);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());  // setup failed: socket, bind, connect
  }
}
BENCHMARK_CAPTURE(BM_TcpRoundTrip, same_cpu, Placement::kSameCpu)
    ->Name("BM_Floor/tcp_rtt/same_cpu")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_TcpRoundTrip, cross_cpu, Placement::kCrossCpu)
    ->Name("BM_Floor/tcp_rtt/cross_cpu")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
