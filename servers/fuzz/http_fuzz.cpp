// http_fuzz.cpp: libFuzzer target for the HTTP request parser.
//   ./run_all.sh test --fuzz      (bounded run, with the checked-in corpus)
// The input is fed to HttpProtocol in two pieces split at a point taken from
// its first byte, and must give the same output as the unsplit feed. ASan
// (the fuzz build always has it) catches any read past the input.
// Invariants: every response starts with "HTTP/1.1 ", an error response
// other than 404/405 (a well-formed request's, kept alive) always closes,
// and a closing protocol never answers again. The two runs are compared
// with their Date values masked (they may straddle a second).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz/fuzz_root.h"
#include "protocol/http.h"
#include "protocol/out_queue.h"
#include "support/http_date.h"

namespace {

// Drains the queue into a string (file ranges read with pread).
std::string drain(cb::proto::OutQueue& out) {
  std::string all;
  while (!out.empty()) {
    auto f = out.front();
    if (f.file_fd >= 0) {
      all += "<file:" + std::to_string(f.file_length) + ">";
      out.consume(f.file_length);
    } else {
      all += f.bytes;
      out.consume(f.bytes.size());
    }
  }
  return all;
}

std::string run(std::string_view input, std::size_t split, bool* closing) {
  cb::Counters counters;
  cb::proto::HttpProtocol http(cb::fuzz::root(), counters.block());
  cb::proto::OutQueue out;
  std::string all;
  // As a session does: a waiting /app request is answered (here at once,
  // with success), and input held back by the output limit is served once
  // the queue is written, before more input is given.
  auto serve = [&] {
    for (;;) {
      while (http.app_waiting()) http.finish_app(cb::proto::AppOutcome::kOk, out);
      all += drain(out);
      if (!http.input_held()) return;
      http.resume(out);
    }
  };
  http.on_input(input.substr(0, split), out);
  serve();
  if (split < input.size() && !http.closing()) {
    http.on_input(input.substr(split), out);
    serve();
  }
  *closing = http.closing();
  return cb::testing::mask_date(all);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t split = input.empty() ? 0 : data[0] % (input.size() + 1);
  bool closing_whole = false, closing_split = false;
  std::string whole = run(input, input.size(), &closing_whole);
  std::string pieces = run(input, split, &closing_split);
  if (whole != pieces || closing_whole != closing_split) std::abort();  // split-dependent
  if (!whole.empty() && whole.rfind("HTTP/1.1 ", 0) != 0) std::abort();
  // A protocol or server error must end the stream.
  for (std::size_t at = whole.find("HTTP/1.1 "); at != std::string::npos;
       at = whole.find("HTTP/1.1 ", at + 1)) {
    std::string_view status = std::string_view(whole).substr(at + 9, 3);
    bool kept = status[0] == '2' || status == "301" || status == "404" || status == "405";
    if (!kept && !closing_whole) std::abort();
  }
  return 0;
}
