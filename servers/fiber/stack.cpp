// stack.cpp: see stack.h.
#include "fiber/stack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#if defined(CB_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace cb::fiber {

std::size_t page_size() {
  static const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return kPage;
}

Stack Stack::map(std::size_t usable_bytes) {
  std::size_t page = page_size();
  std::size_t usable = (usable_bytes + page - 1) / page * page;
  std::size_t total = usable + page;
  // MAP_NORESERVE: no commit charge up front; pages are committed as touched.
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) return {};
  if (::mprotect(p, page, PROT_NONE) != 0) {
    int err = errno;
    ::munmap(p, total);
    errno = err;
    return {};
  }
  return Stack(p, total);
}

Stack::Stack(Stack&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      mapping_bytes_(std::exchange(other.mapping_bytes_, 0)) {}

Stack& Stack::operator=(Stack&& other) noexcept {
  if (this != &other) {
    Stack old(std::move(*this));
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
  }
  return *this;
}

Stack::~Stack() {
  // munmap of a mapping we own cannot fail in a way we could act on.
  if (mapping_ != nullptr) (void)::munmap(mapping_, mapping_bytes_);
}

void* Stack::bottom() const { return static_cast<char*>(mapping_) + page_size(); }
void* Stack::top() const { return static_cast<char*>(mapping_) + mapping_bytes_; }
std::size_t Stack::size() const { return mapping_bytes_ - page_size(); }

StackPool::StackPool(std::size_t stack_bytes, std::size_t max_free)
    : stack_bytes_(stack_bytes), max_free_(max_free) {
  free_.reserve(max_free);
}

Stack StackPool::acquire() {
  if (free_.empty()) return Stack::map(stack_bytes_);
  Stack s = std::move(free_.back());
  free_.pop_back();
  return s;
}

void StackPool::release(Stack stack) {
  if (!stack.valid()) return;
#if defined(CB_ASAN)
  // The old fiber's frames never returned, so their redzones are still
  // poisoned; whoever uses these addresses next (a pooled fiber, or a new
  // mapping at the same place) must start from a clean shadow.
  ASAN_UNPOISON_MEMORY_REGION(stack.bottom(), stack.size());
#endif
  if (free_.size() >= max_free_) return;  // unmapped here
  free_.push_back(std::move(stack));
}

}  // namespace cb::fiber
