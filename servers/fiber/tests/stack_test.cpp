// stack_test.cpp: fiber stacks are page-rounded, lazily committed, pooled
// with a cap, and guarded: running off the end of one (deep recursion in a
// fiber) dies with SIGSEGV on the guard page instead of corrupting memory.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "fiber/scheduler.h"
#include "fiber/stack.h"

namespace cb::fiber {
namespace {

// Resident pages of [p, p + bytes), as mincore(2) sees them.
std::size_t resident_pages(void* p, std::size_t bytes) {
  std::size_t pages = bytes / page_size();
  std::vector<unsigned char> vec(pages);
  if (::mincore(p, bytes, vec.data()) != 0) return SIZE_MAX;
  std::size_t n = 0;
  for (unsigned char v : vec) n += v & 1u;
  return n;
}

TEST(Stack, IsPageRoundedAndWritableEndToEnd) {
  Stack s = Stack::map(10'000);
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(s.size() % page_size(), 0u);
  EXPECT_GE(s.size(), 10'000u);
  EXPECT_EQ(static_cast<char*>(s.top()) - static_cast<char*>(s.bottom()),
            static_cast<std::ptrdiff_t>(s.size()));
  std::memset(s.bottom(), 0xAB, s.size());
  EXPECT_EQ(static_cast<unsigned char*>(s.bottom())[0], 0xAB);
}

TEST(Stack, CommitsPagesOnlyWhenTouched) {
  constexpr std::size_t kBytes = 1 << 20;
  Stack s = Stack::map(kBytes);
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(resident_pages(s.bottom(), kBytes), 0u);
  static_cast<char*>(s.top())[-1] = 1;  // a fiber's first frame
  EXPECT_EQ(resident_pages(s.bottom(), kBytes), 1u);
}

TEST(StackDeathTest, GuardPageBelowTheStackFaults) {
  Stack s = Stack::map(64 * 1024);
  ASSERT_TRUE(s.valid());
  volatile char* below = static_cast<char*>(s.bottom()) - 1;
  EXPECT_DEATH(*below = 1, "");
}

TEST(StackPool, ReusesReleasedStacksUpToTheCap) {
  StackPool pool(64 * 1024, 2);
  std::vector<Stack> taken;
  std::vector<void*> bottoms;
  for (int i = 0; i < 3; ++i) {
    taken.push_back(pool.acquire());
    bottoms.push_back(taken.back().bottom());
  }
  for (Stack& s : taken) pool.release(std::move(s));
  EXPECT_EQ(pool.free_count(), 2u);  // the third one was unmapped
  // Last in, first out: the pooled mappings come back, not new ones.
  Stack again = pool.acquire();
  EXPECT_EQ(again.bottom(), bottoms[1]);
  Stack last = pool.acquire();
  EXPECT_EQ(last.bottom(), bottoms[0]);
  EXPECT_EQ(pool.free_count(), 0u);
}

// Never true at run time, but the compiler cannot know that, so the
// recursion below is neither infinite nor optimised away.
volatile int g_depth_limit = 1 << 30;

int recurse(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (depth >= g_depth_limit) return frame[0];
  return recurse(depth + 1) + frame[0];
}

constexpr std::size_t kFiberStack = 64 * 1024;
constexpr int kFaultOnGuardPage = 42;
constexpr int kFaultElsewhere = 43;
// A local near the top of the overflowing fiber's stack.
const char* volatile g_fiber_top = nullptr;

// Runs on the alternate signal stack (the fiber's own is used up): the
// fault must lie in the page just below the fiber's 64 KiB, nowhere else.
void on_segv(int, siginfo_t* info, void*) {
  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  auto top = reinterpret_cast<std::uintptr_t>(g_fiber_top);
  std::uintptr_t page = page_size();
  // The fiber's record and first frames sit between the local and the true
  // top: less than a page. So the guard page is within this window.
  bool in_guard = addr < top - kFiberStack + page && addr >= top - kFiberStack - 2 * page;
  ::_exit(in_guard ? kFaultOnGuardPage : kFaultElsewhere);
}

void overflow_in_fiber(bool catch_fault) {
  if (catch_fault) {
    static std::vector<char> alt(64 * 1024);
    stack_t ss{};
    ss.ss_sp = alt.data();
    ss.ss_size = alt.size();
    ::sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    ::sigaction(SIGSEGV, &sa, nullptr);
  }
  Scheduler::Options options;
  options.stack_bytes = kFiberStack;
  Scheduler sched(options);
  sched.spawn([] {
    char top_marker = 0;
    g_fiber_top = &top_marker;
    recurse(0);
  });
  sched.run();
}

#if defined(CB_ASAN)
TEST(StackDeathTest, RecursionInAFiberDiesCleanly) {
  // ASan catches the fault on the guard page itself and reports it.
  EXPECT_DEATH(overflow_in_fiber(false), "AddressSanitizer");
}
#elif defined(CB_TSAN)
TEST(StackDeathTest, RecursionInAFiberDiesCleanly) {
  // TSan's fault handler names the overflow and exits.
  EXPECT_DEATH(overflow_in_fiber(false), "ThreadSanitizer: stack-overflow");
}
#else
TEST(StackDeathTest, RecursionInAFiberDiesWithSigsegv) {
  EXPECT_EXIT(overflow_in_fiber(false), ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(StackDeathTest, RecursionInAFiberFaultsOnItsGuardPage) {
  EXPECT_EXIT(overflow_in_fiber(true), ::testing::ExitedWithCode(kFaultOnGuardPage), "");
}
#endif

}  // namespace
}  // namespace cb::fiber
