// cpu.h: which CPUs the calling thread may run on, and pinning it to some.
// The harness pins the server and the load to disjoint CPUs; the per-CPU
// models (reactor:multi, fiber:multi) pin one worker thread to each CPU of
// the set they were given.
#pragma once

#include <vector>

namespace cb {

// The calling thread's affinity, ascending; empty if it cannot be read.
std::vector<int> allowed_cpus();

// How many: allowed_cpus().size(), but at least 1 (an unreadable mask still
// leaves the thread somewhere to run).
int allowed_cpu_count();

// Restricts the calling thread to `cpus`. False (errno set) on failure.
bool pin_current_thread(const std::vector<int>& cpus);

}  // namespace cb
