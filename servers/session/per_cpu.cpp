// per_cpu.cpp: see per_cpu.h.
#include "session/per_cpu.h"

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <thread>
#include <vector>

#include "common/cpu.h"
#include "common/shutdown.h"

namespace cb {

int run_per_cpu(ServerContext& ctx, const PerCpuWorker& worker) {
  std::vector<int> cpus = allowed_cpus();
  auto n = static_cast<std::size_t>(ctx.config.per_cpu_workers());
  std::vector<Fd> extra;
  for (std::size_t i = 1; i < n; ++i) extra.push_back(ctx.open_reuseport_listener(true));
  std::vector<int> exit_codes(n, 1);
  std::latch all_set_up(static_cast<std::ptrdiff_t>(n));
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < n; ++i) {
      int fd = i == 0 ? ctx.listener.get() : extra[i - 1].get();
      threads.emplace_back([&, i, fd] {
        // Unpinned still works, only less predictably: not worth failing for.
        if (!cpus.empty()) (void)pin_current_thread({cpus[i % cpus.size()]});
        try {
          SetUpArrival arrival(&all_set_up);
          exit_codes[i] = worker(static_cast<int>(i), fd, arrival);
        } catch (const std::exception& e) {
          fmt::print(stderr, "bench_server: worker {}: {}\n", i, e.what());
          request_stop();  // one worker failed: bring the others down too
        }
      });
    }
  }
  for (int code : exit_codes) {
    if (code != 0) return code;
  }
  return 0;
}

}  // namespace cb
