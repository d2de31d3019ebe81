// http.h: the HTTP/1.1 static-file protocol as an I/O-free state machine.
//
// Bytes in (any split, any number of pipelined requests), responses out into
// an OutQueue, in request order. Supports GET and HEAD, keep-alive (default
// for HTTP/1.1), "Connection: close", HTTP/1.0 (close unless keep-alive is
// asked for), Content-Length bodies (small files copied inline, larger ones
// queued as sendfile ranges). Errors get a body-less response. A well-formed
// request that earns a client error (404, 405 without a body) keeps the
// connection open, as nginx does; protocol errors (the request could not be
// parsed or framed: 400, 408, 414, 431, 505) and server errors (500, 502,
// 503) close it after the response:
//   301 a directory named without its trailing slash ("/dir" -> "/dir/",
//       so relative links in its index resolve); kept alive
//   400 malformed request line / header, request body, Transfer-Encoding,
//       bad percent-escape, NUL, a path that escapes the root, a '#' in the
//       target, userinfo ("user@host") in an absolute-form target
//   404 missing file (or a directory without index.html); kept alive
//   408 the request head did not end within the head timeout (the session
//       measures it from the head's first byte: on_head_timeout)
//   405 a method other than GET/HEAD; kept alive unless the request has a
//       body (its bytes would be read as the next request)
//   414 the request line does not end within the head cap
//   431 the request head does not end within the head cap (8 KiB)
//   505 an HTTP version other than 1.0/1.1
// GET /app?... is the service handler (app.h): the protocol parses it, then
// waits (app_waiting()) while the session makes its backend calls and burns
// its CPU, and answers when the session calls finish_app(): 200 with the
// body, 503 (no backend) or 502 (a call failed). Requests pipelined behind
// it are held meanwhile and served after it, in order.
// A request line that is already wrong before its head ends (a method byte
// that is not a token character, as in a TLS ClientHello; a complete line
// without a version, as in HTTP/0.9's "GET /") is answered at once instead
// of waiting for an empty line that never comes.
// Back-pressure: a connection's responses are bounded. Once the output
// queue holds kMaxQueuedBytes in memory or kMaxQueuedFiles open files, no
// further pipelined request is parsed: the rest of the input is held
// (input_held()) until the session has written the queue out and calls
// resume(). Sessions do not read while input is held, so what is held is at
// most one read. A client that pipelines without reading costs the server
// one response beyond the limit, not one per request.
// Headers: status line, Date (IMF-fixdate, see date_line()), Content-Type
// (from a small extension table; 200 only), Content-Length, Connection.
#pragma once

#include <time.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/counters.h"
#include "common/fd.h"
#include "protocol/app.h"
#include "protocol/out_queue.h"

namespace cb::proto {

// The directory being served. Opening happens beneath it only: the path is
// percent-decoded once, then opened with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS), so "..", absolute paths and symlinks that leave the
// root are refused by the kernel itself.
class FileRoot {
 public:
  explicit FileRoot(const std::string& directory);  // throws SysError

  struct Opened {
    int status = 404;  // 200, 301 (a directory without its trailing /), 400 (refused path) or 404
    Fd file;
    uint64_t size = 0;
    std::string_view content_type;
  };
  // `path` is the decoded request path, starting with '/'.
  Opened open(std::string_view path) const;

  int fd() const { return dir_.get(); }

 private:
  friend struct FileRootTestPeer;  // tests force the fallback below

  // Opens `relative` (no leading '/') beneath the root: fd, or -errno.
  int open_beneath(const char* relative) const;
  // Without openat2 (ENOSYS on kernels before 5.6, or a seccomp filter):
  // one openat per component with O_NOFOLLOW, so every symlink is refused.
  int open_by_components(std::string_view relative) const;

  Fd dir_;
  bool use_openat2_ = true;  // probed once in the constructor
};

// Content-Type for a file name, from its extension; application/octet-stream
// when unknown.
std::string_view content_type_for(std::string_view path);

// The Date header line of a response sent at `now` (seconds since the
// epoch): "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" (RFC 9110 5.6.7).
// Formatted at most once per second per thread: each thread keeps the line
// of the last second it saw (no lock, no shared state between the threads
// the models run the protocol on). The view stays valid until this thread
// asks for another second.
std::string_view date_line(time_t now);
// date_line() for the current second (CLOCK_REALTIME_COARSE: a vDSO read,
// no system call).
std::string_view date_line_now();
// How many times this thread has formatted a Date line (tests).
uint64_t date_lines_formatted();

// Percent-decodes once. Returns false on a bad escape or a decoded NUL.
bool percent_decode(std::string_view in, std::string* out);

class HttpProtocol {
 public:
  static constexpr std::size_t kMaxHeadBytes = 8 * 1024;
  // Bodies up to this size are read into the response (one write for head
  // and body); larger ones are sent with sendfile.
  static constexpr std::size_t kInlineBodyBytes = 16 * 1024;

  // Back-pressure limits (see above): what the output queue may hold before
  // parsing stops. One response may go beyond them (an /app body is at most
  // 1 MiB, an inline file 16 KiB).
  static constexpr std::size_t kMaxQueuedBytes = 64 * 1024;
  static constexpr std::size_t kMaxQueuedFiles = 4;

  HttpProtocol(const FileRoot& root, CounterBlock& counters);

  static constexpr std::string_view kAppPath = "/app";

  // Must not be called while app_waiting() or file_waiting().
  void on_input(std::string_view in, OutQueue& out);
  // True once the connection must close after the queued output is written.
  bool closing() const { return closing_; }

  // Parsing stopped at the back-pressure limit with input left over: the
  // session writes the queue out, reads nothing meanwhile, then calls
  // resume() (with the queue empty), which serves what was held.
  bool input_held() const { return backlogged_; }
  void resume(OutQueue& out);

  // The request-head timeout (nginx's client_header_timeout): how long a
  // head may take from its first byte to its empty line; 0 = no limit. The
  // protocol only carries the setting; the session keeps the clock.
  void set_head_timeout(std::chrono::milliseconds t) { head_timeout_ = t; }
  std::chrono::milliseconds head_timeout() const { return head_timeout_; }
  // An unfinished request head is waiting for more bytes (the client's
  // turn; not while the server works on a parked request or held input).
  bool head_pending() const { return !pending_.empty() && !parked(); }
  // Heads this connection has completed: a pending head after a change is a
  // new one, whose clock starts afresh.
  uint64_t heads_done() const { return heads_done_; }
  // The head timeout expired: queues a 408 and closes (counted in
  // errors_head_timeout).
  void on_head_timeout(OutQueue& out);

  // An /app request was parsed and waits for the session's work: app()
  // says what to do; finish_app() answers it and serves what was held.
  bool app_waiting() const { return app_.has_value(); }
  const AppParams& app() const { return app_->params; }
  void finish_app(AppOutcome outcome, OutQueue& out);

  // Offloading models park file GETs (HEAD needs no file data, so it never
  // parks). Off by default: then the bytes and syscalls are exactly those
  // of the inline path.
  void set_offload_files(bool on) { offload_files_ = on; }
  // What a parked file GET needs read: the opened file and its size; the
  // whole body when inline_body, else the pages sendfile will send.
  struct FileWait {
    int fd = -1;
    uint64_t size = 0;
    bool inline_body = false;
  };
  // What the session read: `body` is the whole file when inline_body (a
  // borrowed view, copied before finish_file returns); `ok` is false if the
  // read failed or came short (the file shrank).
  struct FileRead {
    std::string_view body;
    bool ok = true;
  };
  bool file_waiting() const { return file_.has_value(); }
  FileWait file_wait() const;
  void finish_file(FileRead read, OutQueue& out);

 private:
  friend struct HttpProtocolTestPeer;  // tests look at pending_'s storage

  // One implementation detail per function in http.cpp.
  std::string_view feed_pending(std::string_view in, OutQueue& out);
  // `resume`: bytes at the front of buf already searched for a head end
  // (so a head trickling in byte by byte is not rescanned from the start).
  std::size_t serve_all(std::string_view buf, OutQueue& out, std::size_t resume = 0);
  void serve_one(std::string_view head, OutQueue& out);
  // `body`: the inline body already read by the session (nullptr: pread).
  void serve_file(FileRoot::Opened file, bool head_only, bool keep_alive, OutQueue& out,
                  const std::string_view* body = nullptr);
  struct PendingFile {
    FileRoot::Opened file;
    bool keep_alive = true;
  };
  bool parked() const { return app_.has_value() || file_.has_value() || backlogged_; }
  bool output_full(const OutQueue& out) const;
  void serve_held(OutQueue& out);
  struct PendingApp {
    AppParams params;
    bool head_only = false;
    bool keep_alive = true;
  };
  void start_app(std::string_view query, bool head_only, bool keep_alive, OutQueue& out);
  void answer_app(const PendingApp& app, OutQueue& out);
  // A body-less response; `keep_alive` false closes the connection.
  void fail(int status, OutQueue& out, bool keep_alive = false);
  void redirect_to_directory(std::string_view raw_path, std::string_view query, bool keep_alive,
                             OutQueue& out);
  void release_pending();

  const FileRoot* root_;
  CounterBlock* counters_;
  // An incomplete request head, or what followed an /app request that
  // waits (empty when idle).
  std::string pending_;
  std::optional<PendingApp> app_;
  std::optional<PendingFile> file_;
  bool offload_files_ = false;
  bool closing_ = false;
  bool backlogged_ = false;  // stopped at the back-pressure limit
  uint64_t heads_done_ = 0;
  std::chrono::milliseconds head_timeout_{0};
};

}  // namespace cb::proto
