// registry.cpp: the one table that maps "model:variant" to its run function.
// `bench_server --list-models` prints it; main picks one entry, once.
#include <string>

#include "models/model.h"

namespace cb {

// Each model file defines its run functions; they are declared here only.
int run_process_fork(ServerContext&);
int run_process_prefork(ServerContext&);
int run_thread_per_conn(ServerContext&);
int run_pool_ready(ServerContext&);
int run_pool_conn(ServerContext&);
int run_reactor_epoll(ServerContext&);
int run_reactor_epoll_et(ServerContext&);
int run_reactor_poll(ServerContext&);
int run_reactor_select(ServerContext&);
int run_reactor_multi(ServerContext&);
int run_reactor_offload(ServerContext&);
int run_reactor_uring(ServerContext&);
int run_fiber_hub(ServerContext&);
int run_fiber_multi(ServerContext&);
int run_fiber_offload(ServerContext&);
bool reactor_uring_supported(std::string* why_not);

namespace {

constexpr ModelEntry kModels[] = {
    {"process", "fork", true, false, AppWait::kConnection, "fork per connection; the child serves it, the parent reaps",
     run_process_fork, nullptr},
    {"process", "prefork", false, false, AppWait::kWorker, "N workers forked up front share the listener",
     run_process_prefork, nullptr},
    {"thread", "per-conn", true, false, AppWait::kConnection, "a detached thread per connection, small stacks",
     run_thread_per_conn, nullptr},
    {"pool", "ready", true, false, AppWait::kWorker, "epoll dispatcher (EPOLLONESHOT) hands ready connections to N workers",
     run_pool_ready, nullptr},
    {"pool", "conn", false, false, AppWait::kWorker, "accept thread + bounded queue; a worker serves a whole connection",
     run_pool_conn, nullptr},
    {"reactor", "epoll", true, false, AppWait::kConnection, "one thread, level-triggered epoll; EPOLLOUT only while output waits",
     run_reactor_epoll, nullptr},
    {"reactor", "epoll-et", false, false, AppWait::kConnection, "one thread, edge-triggered epoll; reads and accepts to EAGAIN",
     run_reactor_epoll_et, nullptr},
    {"reactor", "poll", false, false, AppWait::kConnection, "one thread, poll(2)", run_reactor_poll, nullptr},
    {"reactor", "select", false, false, AppWait::kConnection, "one thread, select(2); fds >= FD_SETSIZE refused and counted",
     run_reactor_select, nullptr},
    {"reactor", "multi", false, true, AppWait::kConnection, "an epoll reactor per server CPU, each with its own SO_REUSEPORT listener",
     run_reactor_multi, nullptr},
    {"reactor", "offload", false, false, AppWait::kConnection, "reactor:epoll + helper threads that read cold files (AMPED); cached files stay on the loop",
     run_reactor_offload, nullptr},
    {"reactor", "uring", false, false, AppWait::kLoop, "one thread, io_uring proactor: multishot accept/recv, provided buffers; cold files read with io_uring, cached ones on the loop",
     run_reactor_uring, reactor_uring_supported},
    {"fiber", "hub", true, false, AppWait::kConnection, "one thread, a fiber per connection parked on an epoll hub (eventlet)",
     run_fiber_hub, nullptr},
    {"fiber", "multi", false, true, AppWait::kConnection, "one fiber scheduler per CPU, SO_REUSEPORT listener each",
     run_fiber_multi, nullptr},
    {"fiber", "offload", false, false, AppWait::kConnection, "fiber:hub + helper threads for cold file reads; the fiber parks (eventlet tpool)",
     run_fiber_offload, nullptr},
};

}  // namespace

std::span<const ModelEntry> model_registry() { return kModels; }

const char* app_wait_name(AppWait w) {
  switch (w) {
    case AppWait::kConnection:
      return "connection";
    case AppWait::kWorker:
      return "worker";
    case AppWait::kLoop:
      return "loop";
  }
  return "?";
}

const ModelEntry* find_model(const std::string& spec) {
  auto colon = spec.find(':');
  std::string name = spec.substr(0, colon);
  std::string variant = colon == std::string::npos ? "" : spec.substr(colon + 1);
  for (const ModelEntry& e : kModels) {
    if (name != e.name) continue;
    if (variant.empty() ? e.is_default : variant == e.variant) return &e;
  }
  return nullptr;
}

}  // namespace cb
