// response_reader_fuzz.cpp: libFuzzer target for the load generator's
// response readers (HttpReader, and EchoReader against a fixed payload).
//   ./run_all.sh test --fuzz      (bounded run, with the checked-in corpus)
// The input (after its first byte) is fed whole, in two pieces split at a
// point taken from the first byte, and one byte at a time; all three must
// read the same responses, ending at the same offsets, and refuse the input
// (or complete a response at EOF) at the same place. ASan (the fuzz build
// always has it) catches any read past the input.
// Invariants: responses end at increasing offsets within the input, a
// status has at most three digits, and nothing follows a refusal.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "loadgen/response_reader.h"

namespace {

using cb::loadgen::FeedResult;
using cb::loadgen::FeedStatus;
using cb::loadgen::Response;

// Everything a reader made of a stream (as in tests/reader_test.cpp).
struct Outcome {
  std::vector<std::size_t> ends;  // offset after each response
  std::vector<Response> responses;
  std::size_t malformed_at = SIZE_MAX;
  bool eof_completed = false;
  Response at_eof;
  bool operator==(const Outcome&) const = default;
};

// Feeds [begin, end) in as many calls as the reader takes, as the worker
// does. Returns false once the reader refused the input.
template <class Reader>
bool feed_piece(Reader& reader, std::string_view payload, std::string_view input,
                std::size_t begin, std::size_t end, Outcome& o) {
  for (std::size_t at = begin; at < end;) {
    Response r;
    FeedResult fr = reader.feed(payload, input.data() + at, end - at, r);
    if (fr.used > end - at) std::abort();  // claims bytes it was not given
    at += fr.used;
    if (fr.status == FeedStatus::kMalformed) {
      o.malformed_at = at;
      return false;
    }
    if (fr.status == FeedStatus::kComplete) {
      o.ends.push_back(at);
      o.responses.push_back(r);
    } else if (at != end) {
      std::abort();  // kNeedMore must consume everything it was given
    }
  }
  return true;
}

// `step` 0: pieces [0, split) and [split, size); otherwise `step` bytes at a time.
template <class Reader>
Outcome read(std::string_view payload, std::string_view input, std::size_t split,
             std::size_t step) {
  Reader reader;
  Outcome o;
  bool ok = true;
  if (step == 0) {
    ok = feed_piece(reader, payload, input, 0, split, o) &&
         feed_piece(reader, payload, input, split, input.size(), o);
  } else {
    for (std::size_t at = 0; ok && at < input.size(); at += step) {
      ok = feed_piece(reader, payload, input, at, std::min(input.size(), at + step), o);
    }
  }
  if (ok) o.eof_completed = reader.complete_on_eof(o.at_eof);
  return o;
}

void check_invariants(const Outcome& o, std::size_t size) {
  std::size_t last = 0;
  for (std::size_t end : o.ends) {
    if (end <= last || end > size) std::abort();
    if (end > o.malformed_at) std::abort();
    last = end;
  }
  for (const Response& r : o.responses) {
    if (r.status < 0 || r.status > 999) std::abort();
  }
}

template <class Reader>
void check(std::string_view payload, std::string_view input, std::size_t split) {
  Outcome whole = read<Reader>(payload, input, input.size(), 0);
  check_invariants(whole, input.size());
  if (!(read<Reader>(payload, input, split, 0) == whole)) std::abort();  // split-dependent
  if (!(read<Reader>(payload, input, 0, 1) == whole)) std::abort();      // byte at a time
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t split = input.empty() ? 0 : data[0] % (input.size() + 1);
  check<cb::loadgen::HttpReader>("", input, split);
  check<cb::loadgen::EchoReader>("0123456789abcdefghij", input, split);
  return 0;
}
