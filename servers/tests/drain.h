// drain.h: the protocol tests' view of an OutQueue: everything it holds as
// one string, byte ranges as they are and file ranges read with pread, so a
// test compares exactly what a client would receive: drain_raw() byte for
// byte, drain() with each Date value masked (tests/support/http_date.h).
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "protocol/out_queue.h"
#include "support/http_date.h"

namespace cb::proto {

inline std::string drain_raw(OutQueue& out) {
  std::string s;
  while (!out.empty()) {
    OutQueue::Front f = out.front();
    if (f.file_fd >= 0) {
      std::string buf(f.file_length, '\0');
      ssize_t n = ::pread(f.file_fd, buf.data(), buf.size(), f.file_offset);
      EXPECT_EQ(n, static_cast<ssize_t>(buf.size()));
      s += buf;
      out.consume(f.file_length);
    } else {
      s += f.bytes;
      out.consume(f.bytes.size());
    }
  }
  return s;
}

inline std::string drain(OutQueue& out) {
  return cb::testing::mask_date(drain_raw(out));
}

}  // namespace cb::proto
