// timer_heap.cpp: the intrusive min-heap behind EventLoop timers.
#include "event/event_loop.h"

namespace cb::event {

void TimerHeap::place(std::size_t i, Timer* t) {
  heap_[i] = t;
  t->heap_index = i;
}

void TimerHeap::sift_up(std::size_t i) {
  Timer* t = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline <= t->deadline) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void TimerHeap::sift_down(std::size_t i) {
  Timer* t = heap_[i];
  std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->deadline < heap_[child]->deadline) ++child;
    if (t->deadline <= heap_[child]->deadline) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, t);
}

void TimerHeap::arm(Timer* t, Clock::time_point deadline) {
  if (t->armed()) cancel(t);
  t->deadline = deadline;
  heap_.push_back(t);
  t->heap_index = heap_.size() - 1;
  sift_up(t->heap_index);
}

void TimerHeap::cancel(Timer* t) {
  if (!t->armed()) return;
  std::size_t i = t->heap_index;
  Timer* last = heap_.back();
  heap_.pop_back();
  t->heap_index = Timer::kNotArmed;
  if (last == t) return;
  place(i, last);
  if (i > 0 && last->deadline < heap_[(i - 1) / 2]->deadline) {
    sift_up(i);
  } else {
    sift_down(i);
  }
}

Timer* TimerHeap::pop_due(Clock::time_point now) {
  if (heap_.empty() || heap_.front()->deadline > now) return nullptr;
  Timer* t = heap_.front();
  cancel(t);
  return t;
}

void TimerHeap::fire_due(Clock::time_point now) {
  for (std::size_t turns = heap_.size(); turns > 0; --turns) {
    Timer* t = pop_due(now);
    if (t == nullptr) return;
    t->handler->on_event(t->handler, kTimer);
  }
}

}  // namespace cb::event
