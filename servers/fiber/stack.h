// stack.h: fiber stacks. Each is its own mmap with a PROT_NONE guard page at
// the low end, so running off the end of a stack faults at once (SIGSEGV)
// instead of silently overwriting a neighbour. Mappings are MAP_NORESERVE
// and never touched up front: the kernel commits a page when a fiber first
// uses it, so a 64 KiB stack of an idle connection costs the few pages it
// has actually used. A pool keeps finished stacks for the next fiber, saving
// the mmap + mprotect + munmap and the page faults per connection.
#pragma once

#include <cstddef>
#include <vector>

namespace cb::fiber {

class Stack {
 public:
  Stack() = default;
  // Maps `usable_bytes` (rounded up to whole pages) plus the guard page.
  // Returns an invalid Stack with errno set if the kernel refuses.
  static Stack map(std::size_t usable_bytes);

  Stack(Stack&& other) noexcept;
  Stack& operator=(Stack&& other) noexcept;
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  ~Stack();

  bool valid() const { return mapping_ != nullptr; }
  // The usable range [bottom, top); the guard page lies just below bottom.
  void* bottom() const;
  void* top() const;
  std::size_t size() const;

 private:
  Stack(void* mapping, std::size_t mapping_bytes) : mapping_(mapping), mapping_bytes_(mapping_bytes) {}
  void* mapping_ = nullptr;
  std::size_t mapping_bytes_ = 0;
};

std::size_t page_size();

class StackPool {
 public:
  // `max_free` caps the stacks kept for reuse: after a burst of connections
  // ends, at most that many (with their touched pages) stay mapped.
  StackPool(std::size_t stack_bytes, std::size_t max_free);

  // A pooled stack if there is one, else a fresh mapping (invalid on failure).
  Stack acquire();
  void release(Stack stack);

  std::size_t stack_bytes() const { return stack_bytes_; }
  std::size_t free_count() const { return free_.size(); }

 private:
  std::size_t stack_bytes_;
  std::size_t max_free_;
  std::vector<Stack> free_;
};

}  // namespace cb::fiber
