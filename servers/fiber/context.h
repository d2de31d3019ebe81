// context.h: the one place where execution switches from one stack to
// another. Everything else in the fiber library (scheduler, sockets) calls
// switch_context / exit_context and never touches registers or stacks.
//
// The switch itself is Boost.Context's fcontext (jump_fcontext, a dozen
// instructions of assembly in libboost_context). On x86-64 SysV it saves only
// what the ABI says a callee must preserve, on the suspended stack itself,
// and the suspended context is nothing but that stack pointer:
//
//     suspended sp (Context::handle) ->
//       +0x00  mxcsr (4 bytes) | x87 control word (4 bytes)
//       +0x08  r12
//       +0x10  r13
//       +0x18  r14
//       +0x20  r15
//       +0x28  rbx
//       +0x30  rbp
//       +0x38  return address (where jump_fcontext was called from)
//     higher addresses: the suspended code's own frames
//
// Resuming loads those back, moves sp past them and jumps to the return
// address, handing over (previous sp, data) as a transfer_t. Caller-saved
// registers need no saving: the switch is an ordinary function call to the
// compiler. Other architectures (aarch64, ...) use Boost's own assembly for
// that CPU, so this file is portable wherever Boost.Context is.
//
// AddressSanitizer must be told about every switch, or it mistakes the new
// stack for an overflow of the old one and reports false errors; CB_ASAN
// builds announce each switch (__sanitizer_start/finish_switch_fiber).
// ThreadSanitizer keeps a call stack and a clock per context: CB_TSAN builds
// give every made context a TSan fiber and switch it with the stack
// (__tsan_switch_to_fiber), or one thread's shadow stack would grow by a
// frame per switch until TSan aborts.
#pragma once

#include <cstddef>

namespace cb::fiber {

// A suspended (or running) execution context.
struct Context {
  void* handle = nullptr;  // the suspended stack pointer (fcontext_t)
  // The stack's bounds, for AddressSanitizer. A thread's own stack is
  // learned at the first switch away from it.
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  // ThreadSanitizer's handle for this context (CB_TSAN builds only): made
  // with the context, freed when it exits; a thread's own is learned at its
  // first switch away.
  void* tsan_fiber = nullptr;
  // What a fresh context runs first. It must end with exit_context().
  void (*entry)(void* arg) = nullptr;
  void* arg = nullptr;
};

// Prepares `ctx` to start `entry(arg)` on the stack [bottom, bottom + size)
// the first time something switches to it.
void make_context(Context& ctx, void* stack_bottom, std::size_t stack_size, void (*entry)(void*),
                  void* arg);

// Suspends the running context into `from` and resumes `to`. Returns when
// some other context switches back to `from`.
void switch_context(Context& from, Context& to);

// Like switch_context, but `from` never runs again: its stack may be freed
// as soon as `to` runs.
[[noreturn]] void exit_context(Context& from, Context& to);

}  // namespace cb::fiber
