// fairness.h: how evenly a run's completed requests were shared among its
// connection slots. A slot is one client connection of -c (one that
// reconnects stays the same slot); its figure is the number of requests it
// completed inside the measured window. Jain's index (Σx)²/(n·Σx²) is 1 when
// every slot got the same and 1/n when one slot got everything; SEDA (Welsh
// et al., SOSP 2001) used it for the same question about servers. The sums
// merge exactly across threads, so the index of the run is that of every slot.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace cb::loadgen {

struct Fairness {
  uint64_t connections = 0;  // slots counted
  uint64_t total = 0;        // Σx: requests completed in the window
  uint64_t min = UINT64_MAX;
  uint64_t max = 0;
  // Σx² as a double: exact up to 2^53, and far past the point where the
  // index's third digit would notice.
  double sum_squares = 0;

  // One slot that completed `requests` in the window.
  void add(uint64_t requests) {
    ++connections;
    total += requests;
    min = std::min(min, requests);
    max = std::max(max, requests);
    double x = static_cast<double>(requests);
    sum_squares += x * x;
  }
  void merge(const Fairness& o) {
    connections += o.connections;
    total += o.total;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    sum_squares += o.sum_squares;
  }

  uint64_t min_per_conn() const { return connections == 0 ? 0 : min; }
  double mean_per_conn() const {
    return connections == 0 ? 0 : static_cast<double>(total) / static_cast<double>(connections);
  }
  // Undefined (nullopt) when no request completed: 0/0 says nothing about
  // how the server shares itself out.
  std::optional<double> jain_index() const {
    if (total == 0) return std::nullopt;
    double sum = static_cast<double>(total);
    return sum * sum / (static_cast<double>(connections) * sum_squares);
  }
};

}  // namespace cb::loadgen
