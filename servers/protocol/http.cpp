// http.cpp: HttpProtocol, the HTTP/1.1 request parser and response writer
// (behaviour in http.h; path safety in file_root.cpp).
//
// Parsing works in place on the caller's bytes: a request head is parsed only
// once it is complete (its empty line seen) or the 8 KiB cap is exceeded, so
// the outcome never depends on how the bytes were split across reads. Only
// an unfinished head is copied, into pending_. Choices where the RFCs leave
// room (each has a unit test):
//   - a line may end in CRLF or a bare LF; a CR anywhere else is a 400;
//   - empty lines before a request line are skipped (RFC 9112 2.2);
//   - the request line is METHOD SP TARGET SP HTTP/x.y with single spaces;
//     "GET /" without a version is a 400, a well-formed version other than
//     1.0/1.1 a 505, anything else a 400;
//   - obs-fold, a header without a colon, whitespace before the colon and
//     control characters in a value are 400s; Host is not required (one root
//     serves every host);
//   - checks run in this order, the first failing one answers: request line
//     (400), version (505), header syntax (400), method (405), body or
//     Transfer-Encoding (400), target (400), file (404; 500 when the server
//     is out of descriptors or memory);
//   - a request line found wrong before its head ends is answered then
//     (a non-token method byte, or a complete line that fails the rule
//     above), so "GET /\r\n" or a TLS ClientHello gets its 400 at once;
//   - absolute-form targets "http://host/path" serve their path (the host is
//     ignored); userinfo ("http://u@host/") is a 400, so is any '#' (a
//     fragment is never sent); other schemes are 400; the query string is ignored, except
//     by /app (app.h), which is matched before percent-decoding: "/%61pp"
//     is the file "app", not the handler.
#include "protocol/http.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "common/ascii.h"
#include "common/io.h"

namespace cb::proto {
namespace {

constexpr std::size_t npos = std::string_view::npos;

// A 200 head is at most ~170 bytes: status line, Date, the longest
// Content-Type, a 20-digit length and "Connection: keep-alive".
constexpr std::size_t kHeadRoom = 256;

// "Date: " + IMF-fixdate (29 bytes) + CRLF.
constexpr std::size_t kDateLineBytes = 37;

// The status line and any extra header of a body-less response.
struct EmptyResponse {
  std::string_view status_line;
  std::string_view extra = {};
};

EmptyResponse empty_response(int status) {
  switch (status) {
    case 400:
      return {"HTTP/1.1 400 Bad Request\r\n"};
    case 404:
      return {"HTTP/1.1 404 Not Found\r\n"};
    case 408:
      return {"HTTP/1.1 408 Request Timeout\r\n"};  // the head timeout
    // RFC 9110 15.5.6: a 405 must say what is allowed.
    case 405:
      return {"HTTP/1.1 405 Method Not Allowed\r\n", "Allow: GET, HEAD\r\n"};
    case 414:
      return {"HTTP/1.1 414 URI Too Long\r\n"};
    case 431:
      return {"HTTP/1.1 431 Request Header Fields Too Large\r\n"};
    // An /app request's backend call failed.
    case 502:
      return {"HTTP/1.1 502 Bad Gateway\r\n"};
    // An /app request asked for calls, but there is no backend.
    case 503:
      return {"HTTP/1.1 503 Service Unavailable\r\n"};
    case 505:
      return {"HTTP/1.1 505 HTTP Version Not Supported\r\n"};
    default:
      return {"HTTP/1.1 500 Internal Server Error\r\n"};
  }
}

char* put2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

// The last second this thread formatted, and its line.
struct DateCache {
  time_t second = -1;
  uint64_t formatted = 0;
  char line[kDateLineBytes] = {};
};
thread_local DateCache date_cache;

void format_date_line(time_t now, char* out) {
  static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm t {};
  ::gmtime_r(&now, &t);
  char* p = out;
  auto put_sv = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put_sv("Date: ");
  put_sv(kDays[t.tm_wday]);
  put_sv(", ");
  p = put2(p, t.tm_mday);
  *p++ = ' ';
  put_sv(kMonths[t.tm_mon]);
  *p++ = ' ';
  int year = t.tm_year + 1900;  // four digits until 9999
  p = put2(p, year / 100);
  p = put2(p, year % 100);
  *p++ = ' ';
  p = put2(p, t.tm_hour);
  *p++ = ':';
  p = put2(p, t.tm_min);
  *p++ = ':';
  p = put2(p, t.tm_sec);
  put_sv(" GMT\r\n");
}

// RFC 9110 tchar: the characters of methods and header names.
constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTchar = make_tchar_table();

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTchar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

// Request targets are visible ASCII; raw spaces, controls and bytes >= 0x80
// must be percent-encoded.
bool is_visible_ascii(std::string_view s) {
  for (char c : s) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

// Field values: anything but controls (HT allowed); obs-text passes.
bool is_field_value(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

using ascii::iequals;

std::string_view trim_ows(std::string_view s) {
  std::size_t begin = s.find_first_not_of(" \t");
  if (begin == npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") + 1 - begin);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Where a request head ends (just past its empty line) within the first
// `cap` bytes, searching from `from` (earlier bytes hold no LF that could
// start the end); 0 when it is not there (yet).
std::size_t find_head_end(std::string_view buf, std::size_t cap, std::size_t from) {
  const char* data = buf.data();
  std::size_t limit = std::min(buf.size(), cap);
  for (std::size_t i = from; i < limit;) {
    const void* found = std::memchr(data + i, '\n', limit - i);
    if (found == nullptr) break;
    auto lf = static_cast<std::size_t>(static_cast<const char*>(found) - data);
    if (lf + 1 < limit && data[lf + 1] == '\n') return lf + 2;
    if (lf + 2 < limit && data[lf + 1] == '\r' && data[lf + 2] == '\n') return lf + 3;
    i = lf + 1;
  }
  return 0;
}

// Empty lines (CRLF or LF) before a request line are skipped; a lone CR at
// the end waits for its LF.
std::size_t skip_empty_lines(std::string_view buf) {
  std::size_t i = 0;
  for (;;) {
    if (i < buf.size() && buf[i] == '\n') {
      i += 1;
    } else if (i + 1 < buf.size() && buf[i] == '\r' && buf[i + 1] == '\n') {
      i += 2;
    } else {
      return i;
    }
  }
}

// The next line of a complete head, without its LF and a CR before it. A
// complete head ends with an empty line, so a LF is always there.
std::string_view take_line(std::string_view* rest) {
  std::size_t lf = rest->find('\n');
  std::string_view line = rest->substr(0, lf);
  rest->remove_prefix(lf == npos ? rest->size() : lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

struct ParsedHead {
  std::string_view method;
  std::string_view target;
  bool http11 = true;
  bool asks_close = false;       // Connection: close
  bool asks_keep_alive = false;  // Connection: keep-alive
  bool has_body = false;         // non-zero Content-Length or Transfer-Encoding
};

int parse_version(std::string_view v, ParsedHead* req) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !digit(v[5]) || v[6] != '.' || !digit(v[7])) {
    return 400;
  }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return 505;
  req->http11 = v[7] == '1';
  return 0;
}

int parse_request_line(std::string_view line, ParsedHead* req) {
  std::size_t sp = line.find(' ');
  if (sp == npos) return 400;
  req->method = line.substr(0, sp);
  std::string_view rest = line.substr(sp + 1);
  sp = rest.find(' ');
  if (sp == npos) return 400;  // "GET /": HTTP/0.9 is not spoken
  req->target = rest.substr(0, sp);
  if (!is_token(req->method) || req->target.empty() || !is_visible_ascii(req->target)) {
    return 400;
  }
  return parse_version(rest.substr(sp + 1), req);
}

void note_connection(std::string_view value, ParsedHead* req) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view option = trim_ows(value.substr(0, comma));
    if (iequals(option, "close")) req->asks_close = true;
    if (iequals(option, "keep-alive")) req->asks_keep_alive = true;
    value.remove_prefix(comma == npos ? value.size() : comma + 1);
  }
}

int parse_header(std::string_view line, ParsedHead* req) {
  if (line.front() == ' ' || line.front() == '\t') return 400;  // obs-fold
  std::size_t colon = line.find(':');
  if (colon == npos) return 400;
  std::string_view name = line.substr(0, colon);
  std::string_view value = trim_ows(line.substr(colon + 1));
  // A space before the colon fails is_token (RFC 9112 5.1 says reject it).
  if (!is_token(name) || !is_field_value(value)) return 400;
  if (iequals(name, "connection")) {
    note_connection(value, req);
  } else if (iequals(name, "content-length")) {
    if (value.empty() || value.find_first_not_of("0123456789") != npos) return 400;
    if (value.find_first_not_of('0') != npos) req->has_body = true;
  } else if (iequals(name, "transfer-encoding")) {
    req->has_body = true;
  }
  return 0;
}

// A head that has not ended yet: 0 while it may still be fine, else the
// status its request line already earns. `rest` holds no empty line and is
// shorter than the head cap.
int check_unfinished(std::string_view rest) {
  std::size_t lf = rest.find('\n');
  if (lf != npos) {
    std::string_view line = rest.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ParsedHead req;
    return parse_request_line(line, &req);
  }
  if (rest == "\r") return 0;  // the start of an empty line
  std::size_t sp = rest.find(' ');
  if (sp == 0) return 400;
  return is_token(rest.substr(0, sp)) ? 0 : 400;
}

int parse_head(std::string_view head, ParsedHead* req) {
  int status = parse_request_line(take_line(&head), req);
  if (status != 0) return status;
  for (std::string_view line = take_line(&head); !line.empty(); line = take_line(&head)) {
    status = parse_header(line, req);
    if (status != 0) return status;
  }
  return 0;
}

// The path part of an origin-form ("/a?x") or absolute-form
// ("http://host/a?x") target, query removed; false for any other form.
// Splits an origin-form or absolute-form target into its path and query
// (empty when there is none).
bool target_path(std::string_view target, std::string_view* path, std::string_view* query) {
  if (target.find('#') != npos) return false;  // a fragment is the client's own
  std::string_view rest = target;
  if (target.front() != '/') {
    constexpr std::string_view kScheme = "http://";
    if (!iequals(target.substr(0, kScheme.size()), kScheme)) return false;
    target.remove_prefix(kScheme.size());
    std::size_t end = target.find_first_of("/?");
    if (target.empty() || end == 0) return false;  // no authority
    // RFC 9110 4.2.4: userinfo is deprecated and a sender must not send it.
    if (target.substr(0, end).find('@') != npos) return false;
    rest = end == npos ? std::string_view("/") : target.substr(end);
    if (rest.front() == '?') {  // "http://host?q": the root, with a query
      *path = "/";
      *query = rest.substr(1);
      return true;
    }
  }
  std::size_t mark = rest.find('?');
  *path = rest.substr(0, mark);
  *query = mark == npos ? std::string_view() : rest.substr(mark + 1);
  return true;
}

char* put(char* p, std::string_view s) {
  // An empty view may hold a null pointer, which memcpy must not get
  // (UBSan: nonnull-attribute), even for zero bytes.
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Writes a 200 head at p (kHeadRoom bytes are there); returns its end.
char* write_ok_head(char* p, std::string_view type, uint64_t length, bool keep_alive) {
  p = put(p, "HTTP/1.1 200 OK\r\n");
  p = put(p, date_line_now());
  p = put(p, "Content-Type: ");
  p = put(p, type);
  p = put(p, "\r\nContent-Length: ");
  fmt::format_int digits(length);
  p = put(p, std::string_view(digits.data(), digits.size()));
  return put(p, keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
}

}  // namespace

std::string_view date_line(time_t now) {
  DateCache& cache = date_cache;
  if (now != cache.second) {
    format_date_line(now, cache.line);
    cache.second = now;
    ++cache.formatted;
  }
  return {cache.line, kDateLineBytes};
}

std::string_view date_line_now() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return date_line(ts.tv_sec);
}

uint64_t date_lines_formatted() {
  return date_cache.formatted;
}

bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      int hi = i + 2 < in.size() ? hex_value(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return false;
    out->push_back(c);
  }
  return true;
}

HttpProtocol::HttpProtocol(const FileRoot& root, CounterBlock& counters)
    : root_(&root), counters_(&counters) {}

bool HttpProtocol::output_full(const OutQueue& out) const {
  return out.buffered_bytes() >= kMaxQueuedBytes || out.open_files() >= kMaxQueuedFiles;
}

void HttpProtocol::resume(OutQueue& out) {
  backlogged_ = false;
  serve_held(out);
}

void HttpProtocol::on_head_timeout(OutQueue& out) {
  bump(counters_->errors_head_timeout);
  fail(408, out);
  release_pending();
}

void HttpProtocol::on_input(std::string_view in, OutQueue& out) {
  while (!closing_ && !parked() && !pending_.empty() && !in.empty()) in = feed_pending(in, out);
  if (!closing_ && !parked() && pending_.empty()) {
    in.remove_prefix(serve_all(in, out));
    if (!closing_ && !in.empty()) pending_.assign(in);
  } else if (parked()) {
    // An /app or file request waits for its session: what follows it is
    // held (at most one read's worth: sessions do not read while a request
    // waits).
    pending_.append(in);
  }
  // After a response that closes, later pipelined requests are discarded.
  if (closing_) release_pending();
}

std::string_view HttpProtocol::feed_pending(std::string_view in, OutQueue& out) {
  // Copy no more than the head cap can still use; once the pending request
  // is complete the rest of `in` is parsed in place.
  std::size_t old = pending_.size();
  std::size_t take = std::min(in.size(), kMaxHeadBytes - old);
  pending_.append(in.substr(0, take));
  // The old bytes held no head end; one could start in their last two
  // ("\n\r" + "\n").
  std::size_t used = serve_all(pending_, out, old >= 2 ? old - 2 : 0);
  if (closing_) return {};
  if (used >= old) {
    release_pending();
    in.remove_prefix(used - old);
  } else {
    pending_.erase(0, used);
    in.remove_prefix(take);
  }
  return in;
}

std::size_t HttpProtocol::serve_all(std::string_view buf, OutQueue& out, std::size_t resume) {
  std::size_t pos = 0;
  while (!closing_ && !parked()) {
    pos += skip_empty_lines(buf.substr(pos));
    std::string_view rest = buf.substr(pos);
    if (rest.empty()) break;
    if (output_full(out)) {
      // Back-pressure: the rest waits until the queue has been written.
      backlogged_ = true;
      break;
    }
    std::size_t end = find_head_end(rest, kMaxHeadBytes, resume > pos ? resume - pos : 0);
    if (end == 0) {
      // Unfinished: wait, unless the cap is already used up or the request
      // line is already wrong. Either way what is left is shorter than the
      // cap (pending_ stays small).
      if (rest.size() >= kMaxHeadBytes) {
        bool line_ended = std::memchr(rest.data(), '\n', kMaxHeadBytes) != nullptr;
        fail(line_ended ? 431 : 414, out);
      } else if (int status = check_unfinished(rest); status != 0) {
        fail(status, out);
      }
      break;
    }
    serve_one(rest.substr(0, end), out);
    pos += end;
    resume = 0;  // only the first head was searched before
  }
  return pos;
}

void HttpProtocol::serve_one(std::string_view head, OutQueue& out) {
  ++heads_done_;
  ParsedHead req;
  int status = parse_head(head, &req);
  if (status != 0) return fail(status, out);
  bool keep_alive = req.http11 ? !req.asks_close : req.asks_keep_alive && !req.asks_close;
  bool head_only = req.method == "HEAD";
  // A body that was not read would be parsed as the next request: close.
  if (!head_only && req.method != "GET") return fail(405, out, keep_alive && !req.has_body);
  if (req.has_body) return fail(400, out);  // a static server takes no bodies
  std::string_view path, query;
  if (!target_path(req.target, &path, &query)) return fail(400, out);
  if (path == kAppPath) return start_app(query, head_only, keep_alive, out);
  std::string_view raw_path = path;
  thread_local std::string decoded;  // reused: no allocation per request
  if (path.find('%') != npos) {
    if (!percent_decode(path, &decoded)) return fail(400, out);
    path = decoded;
  }
  FileRoot::Opened file = root_->open(path);
  if (file.status == 301) return redirect_to_directory(raw_path, query, keep_alive, out);
  // A missing file is the client's error, not the protocol's: kept alive.
  if (file.status != 200) return fail(file.status, out, keep_alive && file.status == 404);
  if (offload_files_ && !head_only) {
    file_ = PendingFile{std::move(file), keep_alive};
    return;
  }
  serve_file(std::move(file), head_only, keep_alive, out);
}

HttpProtocol::FileWait HttpProtocol::file_wait() const {
  const FileRoot::Opened& f = file_->file;
  return {f.file.get(), f.size, f.size <= kInlineBodyBytes};
}

void HttpProtocol::finish_file(FileRead read, OutQueue& out) {
  PendingFile file = std::move(*file_);
  file_.reset();
  if (!read.ok) {
    // The same outcome as a file that shrank under the inline pread.
    bump(counters_->errors_read);
    closing_ = true;
  } else {
    bool inline_body = file.file.size <= kInlineBodyBytes;
    serve_file(std::move(file.file), false, file.keep_alive, out,
               inline_body ? &read.body : nullptr);
  }
  serve_held(out);
}

void HttpProtocol::serve_held(OutQueue& out) {
  if (closing_) return release_pending();
  if (pending_.empty()) return;
  // Requests pipelined behind a parked one were held while it waited.
  std::string held;
  held.swap(pending_);
  on_input(held, out);
}

void HttpProtocol::start_app(std::string_view query, bool head_only, bool keep_alive,
                             OutQueue& out) {
  AppParams params;
  if (!parse_app_query(query, &params)) return fail(400, out);
  app_ = PendingApp{params, head_only, keep_alive};
}

void HttpProtocol::finish_app(AppOutcome outcome, OutQueue& out) {
  PendingApp app = *app_;
  app_.reset();
  bump(counters_->app_requests);
  if (outcome != AppOutcome::kOk) {
    fail(outcome == AppOutcome::kNoBackend ? 503 : 502, out);
  } else {
    answer_app(app, out);
  }
  serve_held(out);
}

void HttpProtocol::answer_app(const PendingApp& app, OutQueue& out) {
  std::size_t body = app.head_only ? 0 : app.params.bytes;
  out.append_with(kHeadRoom + body, [&](char* room, std::size_t) {
    char* end = write_ok_head(room, "text/plain", app.params.bytes, app.keep_alive);
    std::memcpy(end, reply_content().data(), body);
    return static_cast<std::size_t>(end - room) + body;
  });
  bump(counters_->requests);
  bump(counters_->http_2xx);
  if (!app.keep_alive) closing_ = true;
}

void HttpProtocol::serve_file(FileRoot::Opened file, bool head_only, bool keep_alive,
                              OutQueue& out, const std::string_view* body_read) {
  bool inline_body = !head_only && file.size <= kInlineBodyBytes;
  std::size_t body = inline_body ? static_cast<std::size_t>(file.size) : 0;
  // Head (and a small body) are written straight into the queue: one write.
  std::size_t used = out.append_with(kHeadRoom + body, [&](char* room, std::size_t) {
    char* end = write_ok_head(room, file.content_type, file.size, keep_alive);
    if (body_read != nullptr) {
      if (body_read->size() != body) return std::size_t{0};
      std::memcpy(end, body_read->data(), body);
    } else if (!io::pread_exact(file.file.get(), end, body)) {
      return std::size_t{0};
    }
    return static_cast<std::size_t>(end - room) + body;
  });
  if (used == 0) {
    // The file shrank under us: the promised length cannot be sent.
    bump(counters_->errors_read);
    closing_ = true;
    return;
  }
  if (!head_only && !inline_body) {
    out.append_file(std::move(file.file), 0, static_cast<std::size_t>(file.size));
  }
  bump(counters_->requests);
  bump(counters_->http_2xx);
  if (!keep_alive) closing_ = true;
}

void HttpProtocol::redirect_to_directory(std::string_view raw_path, std::string_view query,
                                         bool keep_alive, OutQueue& out) {
  // The target's own bytes (visible ASCII, checked by the parser) plus '/':
  // nothing decoded goes back into a header.
  std::string head = fmt::format(
      "HTTP/1.1 301 Moved Permanently\r\n{}Location: {}/{}{}\r\nContent-Length: 0\r\n"
      "Connection: {}\r\n\r\n",
      date_line_now(), raw_path, query.empty() ? "" : "?", query,
      keep_alive ? "keep-alive" : "close");
  out.append(head);
  bump(counters_->requests);
  bump(counters_->http_3xx);
  if (!keep_alive) closing_ = true;
}

void HttpProtocol::fail(int status, OutQueue& out, bool keep_alive) {
  EmptyResponse r = empty_response(status);
  out.append_with(kHeadRoom, [&](char* room, std::size_t) {
    char* p = put(room, r.status_line);
    p = put(p, date_line_now());
    p = put(p, r.extra);
    p = put(p, keep_alive ? "Content-Length: 0\r\nConnection: keep-alive\r\n\r\n"
                          : "Content-Length: 0\r\nConnection: close\r\n\r\n");
    return static_cast<std::size_t>(p - room);
  });
  bump(counters_->requests);
  bump(status >= 500 ? counters_->http_5xx : counters_->http_4xx);
  if (!keep_alive) closing_ = true;
}

void HttpProtocol::release_pending() {
  // An idle connection owns no heap memory.
  std::string().swap(pending_);
}

}  // namespace cb::proto
