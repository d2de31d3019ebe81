// counters.cpp: see counters.h.
#include "common/counters.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/status.h"

namespace cb {

Counters::Counters(const std::string& path) : path_(path) {
  void* mem = nullptr;
  if (path.empty()) {
    mem = ::mmap(nullptr, sizeof(CounterBlock), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  } else {
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open(" + path + ")", errno);
    if (::ftruncate(fd.get(), sizeof(CounterBlock)) != 0) {
      throw SysError("ftruncate(" + path + ")", errno);
    }
    mem = ::mmap(nullptr, sizeof(CounterBlock), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  }
  if (mem == MAP_FAILED) throw SysError("mmap(counters)", errno);
  block_ = new (mem) CounterBlock{};
  block_->version = kCounterVersion;
  block_->server_pid = static_cast<int32_t>(::getpid());
  // The magic goes last so a reader never accepts a half-initialised block.
  std::atomic_thread_fence(std::memory_order_release);
  block_->magic = kCounterMagic;
}

Counters::~Counters() {
  if (block_) ::munmap(block_, sizeof(CounterBlock));
}

std::string Counters::to_json() const { return counters_to_json(*block_); }

std::string counters_to_json(const CounterBlock& block) {
  nlohmann::ordered_json j;
  j["server_pid"] = block.server_pid;
#define CB_FIELD_TO_JSON(name) j[#name] = block.name.load(std::memory_order_relaxed);
  CB_COUNTER_FIELDS(CB_FIELD_TO_JSON)
#undef CB_FIELD_TO_JSON
  return j.dump();
}

CounterReader::CounterReader(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw SysError("open(" + path + ")", errno);
  if (::lseek(fd.get(), 0, SEEK_END) < static_cast<off_t>(sizeof(CounterBlock))) {
    throw SysError("counters file " + path + " is too short", EINVAL);
  }
  void* mem = ::mmap(nullptr, sizeof(CounterBlock), PROT_READ, MAP_SHARED, fd.get(), 0);
  if (mem == MAP_FAILED) throw SysError("mmap(" + path + ")", errno);
  block_ = static_cast<const CounterBlock*>(mem);
  if (block_->magic != kCounterMagic || block_->version != kCounterVersion) {
    ::munmap(const_cast<CounterBlock*>(block_), sizeof(CounterBlock));
    block_ = nullptr;
    throw SysError("counters file " + path + " has the wrong magic or version", EINVAL);
  }
}

CounterReader::~CounterReader() {
  if (block_) ::munmap(const_cast<CounterBlock*>(block_), sizeof(CounterBlock));
}

std::string CounterReader::to_json() const { return counters_to_json(*block_); }

}  // namespace cb
