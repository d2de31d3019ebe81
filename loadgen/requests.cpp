// requests.cpp: see requests.h.
#include "requests.h"

namespace cb::loadgen {

std::string make_echo_payload(std::size_t size) {
  std::string payload(size, '\0');
  uint32_t x = 0x9e3779b9u;
  for (char& c : payload) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>('!' + x % 94);  // printable ASCII, easy to read in a dump
  }
  return payload;
}

RequestSet::RequestSet(const LoadConfig& config) {
  if (config.proto == Proto::kEcho) {
    payload_ = make_echo_payload(config.msg_size);
    requests_.push_back(payload_);
    return;
  }
  bool v6 = config.host.find(':') != std::string::npos;
  std::string host =
      (v6 ? "[" + config.host + "]" : config.host) + ":" + std::to_string(config.port);
  for (const WeightedPath& p : config.paths) {
    std::string r = "GET " + p.path + " HTTP/1.1\r\nHost: " + host + "\r\n";
    if (config.close_after_request) r += "Connection: close\r\n";
    r += "\r\n";
    requests_.push_back(std::move(r));
  }
}

RequestPicker::RequestPicker(const std::vector<uint32_t>& weights, uint64_t stream)
    : rng_(kSeed + stream) {
  uint32_t sum = 0;
  for (uint32_t w : weights) cumulative_.push_back(sum += w);
}

RequestPicker RequestPicker::for_thread(const LoadConfig& config, int thread_index) {
  std::vector<uint32_t> weights;
  if (config.proto == Proto::kHttp) {
    for (const WeightedPath& p : config.paths) weights.push_back(p.weight);
  }
  return RequestPicker(weights, static_cast<uint64_t>(thread_index));
}

}  // namespace cb::loadgen
