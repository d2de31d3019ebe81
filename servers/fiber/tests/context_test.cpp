// context_test.cpp: the raw context switch: ping-pong between the thread's
// stack and a fiber stack, values surviving switches, exit_context.
#include <string>

#include <gtest/gtest.h>

#include "fiber/context.h"
#include "fiber/stack.h"

namespace cb::fiber {
namespace {

struct PingPong {
  Context main;
  Context side;
  std::string trace;
  int rounds = 0;
};

void side_entry(void* arg) {
  auto* pp = static_cast<PingPong*>(arg);
  for (int i = 0; i < pp->rounds; ++i) {
    pp->trace += 's';
    switch_context(pp->side, pp->main);
  }
  pp->trace += 'x';
  exit_context(pp->side, pp->main);
}

TEST(Context, SwitchesBackAndForthInOrder) {
  Stack stack = Stack::map(64 * 1024);
  ASSERT_TRUE(stack.valid());
  PingPong pp;
  pp.rounds = 3;
  make_context(pp.side, stack.bottom(), stack.size(), side_entry, &pp);
  for (int i = 0; i < 4; ++i) {
    pp.trace += 'm';
    switch_context(pp.main, pp.side);
  }
  EXPECT_EQ(pp.trace, "msmsmsmx");
}

// Callee-saved registers and locals of both sides survive the switches.
struct Counting {
  Context main;
  Context side;
  long side_sum = 0;
};

void counting_entry(void* arg) {
  auto* c = static_cast<Counting*>(arg);
  long local = 0;
  for (long i = 1; i <= 1000; ++i) {
    local += i;
    switch_context(c->side, c->main);
  }
  c->side_sum = local;
  exit_context(c->side, c->main);
}

TEST(Context, LocalsSurviveAThousandSwitches) {
  Stack stack = Stack::map(64 * 1024);
  ASSERT_TRUE(stack.valid());
  Counting c;
  make_context(c.side, stack.bottom(), stack.size(), counting_entry, &c);
  double main_local = 0.5;
  for (int i = 0; i < 1001; ++i) {
    main_local *= 1.0;
    switch_context(c.main, c.side);
  }
  EXPECT_EQ(c.side_sum, 1000L * 1001L / 2);
  EXPECT_EQ(main_local, 0.5);
}

TEST(Context, ExitedStackCanBeReused) {
  Stack stack = Stack::map(64 * 1024);
  ASSERT_TRUE(stack.valid());
  for (int round = 0; round < 3; ++round) {
    PingPong pp;
    pp.rounds = 1;
    make_context(pp.side, stack.bottom(), stack.size(), side_entry, &pp);
    switch_context(pp.main, pp.side);
    switch_context(pp.main, pp.side);
    EXPECT_EQ(pp.trace, "sx");
  }
}

}  // namespace
}  // namespace cb::fiber
