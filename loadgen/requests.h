// requests.h: what a connection sends. RequestSet holds the bytes of every
// request a thread can send, built once; RequestPicker chooses which one goes
// next (--paths: a weighted random choice). Neither touches a socket; the
// readers that frame the answers are in response_reader.h.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"

namespace cb::loadgen {

// The bytes of every request a thread can send, prebuilt.
class RequestSet {
 public:
  explicit RequestSet(const LoadConfig& config);
  // Request `i` (an index into the config's paths; always 0 for echo).
  std::string_view request(uint32_t i) const { return requests_[i]; }
  std::size_t size() const { return requests_.size(); }
  // The echo payload (empty for http).
  std::string_view payload() const { return payload_; }

 private:
  std::string payload_;
  std::vector<std::string> requests_;
};

// Deterministic, varied bytes so a shifted or flipped byte cannot go unseen.
std::string make_echo_payload(std::size_t size);

// Which request to send next: index i with probability weight[i] / sum.
// xorshift64 is cheap and good enough to spread paths; one path (or echo)
// always answers 0 without touching the generator. Inline: it runs once per
// request.
class RequestPicker {
 public:
  // `weights` in RequestSet order (none or one: always 0); `stream` offsets
  // the seed so threads do not pick in lockstep.
  explicit RequestPicker(const std::vector<uint32_t>& weights, uint64_t stream = 0);
  // The picker of thread `thread_index` for this config.
  static RequestPicker for_thread(const LoadConfig& config, int thread_index);

  uint32_t next() {
    if (cumulative_.size() <= 1) return 0;
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    uint32_t r = static_cast<uint32_t>(rng_ % cumulative_.back());
    auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), r);
    return static_cast<uint32_t>(it - cumulative_.begin());
  }

 private:
  static constexpr uint64_t kSeed = 0x2545f4914f6cdd1dull;

  std::vector<uint32_t> cumulative_;  // running sums of the weights
  uint64_t rng_;
};

}  // namespace cb::loadgen
