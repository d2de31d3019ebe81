// context.cpp: see context.h. The only file that includes Boost.Context.
#include "fiber/context.h"

#include <cstdlib>

#include <boost/context/detail/fcontext.hpp>

#if defined(CB_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(CB_TSAN)
#include <sanitizer/tsan_interface.h>
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
  bool from_exits;  // exit_context: `from` never runs again
};

// The sanitizers' fiber protocols, before the jump. ASan: announce the target
// stack (a null fake-stack slot means "the old context is gone for good",
// which frees its fake frames). TSan: switch to the target's fiber (a
// synchronising switch: what one context did happens before the next runs).
inline void announce_switch([[maybe_unused]] void** fake_stack, [[maybe_unused]] Context& from,
                            [[maybe_unused]] const Context& to) {
#if defined(CB_ASAN)
  __sanitizer_start_switch_fiber(fake_stack, to.stack_bottom, to.stack_size);
#endif
#if defined(CB_TSAN)
  if (from.tsan_fiber == nullptr) from.tsan_fiber = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
}

// Called on arrival, on the resumed stack: records where the suspended side
// stopped (and, under ASan, which stack it runs on; under TSan, an exited
// side's fiber is freed).
inline void arrive(fc::transfer_t t, [[maybe_unused]] void* fake_stack) {
  Hop* hop = static_cast<Hop*>(t.data);
  hop->from->handle = t.fctx;
#if defined(CB_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack, &hop->from->stack_bottom, &hop->from->stack_size);
#endif
#if defined(CB_TSAN)
  if (hop->from_exits) {
    __tsan_destroy_fiber(hop->from->tsan_fiber);
    hop->from->tsan_fiber = nullptr;
  }
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
#if defined(CB_TSAN)
  // A context made again without having exited drops its old fiber.
  if (ctx.tsan_fiber != nullptr) __tsan_destroy_fiber(ctx.tsan_fiber);
  ctx.tsan_fiber = __tsan_create_fiber(0);
#endif
  // fcontext takes the top of the stack: it grows down on every target.
  void* top = static_cast<char*>(stack_bottom) + stack_size;
  ctx.handle = fc::make_fcontext(top, stack_size, trampoline);
}

void switch_context(Context& from, Context& to) {
  Hop hop{&from, &to, false};
  void* fake_stack = nullptr;
  announce_switch(&fake_stack, from, to);
  fc::transfer_t t = fc::jump_fcontext(to.handle, &hop);
  arrive(t, fake_stack);
}

void exit_context(Context& from, Context& to) {
  Hop hop{&from, &to, true};
  announce_switch(nullptr, from, to);
  fc::jump_fcontext(to.handle, &hop);
  std::abort();  // nothing ever resumes an exited context
}

}  // namespace cb::fiber
