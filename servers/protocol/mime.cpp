// mime.cpp: Content-Type from a file extension (see content_type_for in
// http.h). A short fixed table, compared case-insensitively: a benchmark
// server needs the common web types, not /etc/mime.types.
#include <array>
#include <string_view>
#include <utility>

#include "common/ascii.h"
#include "protocol/http.h"

namespace cb::proto {
namespace {

constexpr std::string_view kDefaultType = "application/octet-stream";

constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTypes = {{
    {"html", "text/html"},
    {"htm", "text/html"},
    {"txt", "text/plain"},
    {"css", "text/css"},
    {"js", "text/javascript"},
    {"json", "application/json"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"xml", "application/xml"},
    {"bin", kDefaultType},
}};

using ascii::iequals;

}  // namespace

std::string_view content_type_for(std::string_view path) {
  std::size_t dot = path.rfind('.');
  std::size_t slash = path.rfind('/');
  // No dot, or the dot belongs to a directory name ("/v1.2/README").
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return kDefaultType;
  }
  std::string_view ext = path.substr(dot + 1);
  for (const auto& [known, type] : kTypes) {
    if (iequals(ext, known)) return type;
  }
  return kDefaultType;
}

}  // namespace cb::proto
