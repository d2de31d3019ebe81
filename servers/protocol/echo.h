// echo.h: the echo protocol. Every byte received goes back, in order; there
// is no framing on the server side (the load generator frames fixed-size
// messages and verifies them). One "request" is counted per read chunk.
//
// Like every protocol here it does no I/O and owns no read buffer: the
// caller reads into its own (per-thread) scratch buffer and hands the bytes
// over, so an idle connection costs only its small state.
#pragma once

#include <string_view>

#include "common/counters.h"
#include "protocol/out_queue.h"

namespace cb::proto {

class EchoProtocol {
 public:
  explicit EchoProtocol(CounterBlock& counters) : counters_(&counters) {}

  void on_input(std::string_view in, OutQueue& out) {
    bump(counters_->requests);
    out.append(in);
  }

  bool closing() const { return false; }

 private:
  CounterBlock* counters_;
};

}  // namespace cb::proto
