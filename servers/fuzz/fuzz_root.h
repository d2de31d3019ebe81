// fuzz_root.h: the document root both fuzz targets share, made once per
// process in a temporary directory: a few files, a subdirectory, a symlink
// inside (allowed) and one pointing outside (must never be followed), and a
// "secret" file beside the root.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "protocol/http.h"

namespace cb::fuzz {

inline const std::string& root_path() {
  static const std::string path = [] {
    char tmpl[] = "/tmp/cb-fuzz-XXXXXX";
    std::string base = ::mkdtemp(tmpl);
    std::string root = base + "/root";
    ::mkdir(root.c_str(), 0755);
    ::mkdir((root + "/sub").c_str(), 0755);
    std::ofstream(root + "/index.html") << "<html></html>";
    std::ofstream(root + "/a.txt") << "a";
    std::ofstream(root + "/sub/b.txt") << "b";
    std::ofstream(base + "/secret") << "secret";
    (void)::symlink("../secret", (root + "/escape").c_str());
    (void)::symlink((base + "/secret").c_str(), (root + "/escape_abs").c_str());
    (void)::symlink("a.txt", (root + "/inside").c_str());
    char real[4096];
    return std::string(::realpath(root.c_str(), real));
  }();
  return path;
}

inline const proto::FileRoot& root() {
  static const proto::FileRoot r(root_path());
  return r;
}

}  // namespace cb::fuzz
