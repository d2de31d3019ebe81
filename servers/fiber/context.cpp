// context.cpp: see context.h. The only file that includes Boost.Context.
#include "fiber/context.h"

#include <cstdlib>

#include <boost/context/detail/fcontext.hpp>

#if defined(CB_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

namespace cb::fiber {
namespace {

namespace fc = boost::context::detail;

// What a switch hands to the context it resumes: who is being suspended (so
// the resumed side can store the suspended stack pointer into it) and who is
// resumed (so a fresh context finds its entry function). It lives on the
// suspending side's stack, which stays valid while that side is suspended.
struct Hop {
  Context* from;
  Context* to;
};

// AddressSanitizer's fiber protocol: announce the target stack before the
// jump, confirm after it. A null fake-stack slot means "the old context is
// gone for good", which frees its fake frames.
inline void announce_switch([[maybe_unused]] void** fake_stack, [[maybe_unused]] const Context& to) {
#if defined(CB_ASAN)
  __sanitizer_start_switch_fiber(fake_stack, to.stack_bottom, to.stack_size);
#endif
}

// Called on arrival, on the resumed stack: records where the suspended side
// stopped (and, under ASan, which stack it runs on).
inline void arrive(fc::transfer_t t, [[maybe_unused]] void* fake_stack) {
  Hop* hop = static_cast<Hop*>(t.data);
  hop->from->handle = t.fctx;
#if defined(CB_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack, &hop->from->stack_bottom, &hop->from->stack_size);
#endif
}

// Where every fresh context starts (make_fcontext points it here).
void trampoline(fc::transfer_t t) {
  Context* self = static_cast<Hop*>(t.data)->to;
  arrive(t, nullptr);
  self->entry(self->arg);
  std::abort();  // entry() must leave through exit_context()
}

}  // namespace

void make_context(Context& ctx, void* stack_bottom, std::size_t stack_size, void (*entry)(void*),
                  void* arg) {
  ctx.stack_bottom = stack_bottom;
  ctx.stack_size = stack_size;
  ctx.entry = entry;
  ctx.arg = arg;
  // fcontext takes the top of the stack: it grows down on every target.
  void* top = static_cast<char*>(stack_bottom) + stack_size;
  ctx.handle = fc::make_fcontext(top, stack_size, trampoline);
}

void switch_context(Context& from, Context& to) {
  Hop hop{&from, &to};
  void* fake_stack = nullptr;
  announce_switch(&fake_stack, to);
  fc::transfer_t t = fc::jump_fcontext(to.handle, &hop);
  arrive(t, fake_stack);
}

void exit_context(Context& from, Context& to) {
  Hop hop{&from, &to};
  announce_switch(nullptr, to);
  fc::jump_fcontext(to.handle, &hop);
  std::abort();  // nothing ever resumes an exited context
}

}  // namespace cb::fiber
