// doc_root.h: a temporary document root for the whole-server HTTP tests
// (conformance, robustness, service): a mkdtemp folder under /tmp that the
// test fills with write() and that is removed with everything in it. The
// folder and its files are readable by all: the peers nginx and Apache
// serve it from workers that dropped root (servers/peers/README.md).
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace cb::testing {

class DocRoot {
 public:
  explicit DocRoot(const std::string& prefix = "cb-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    dir_ = ::mkdtemp(tmpl.data());
    ::chmod(dir_.c_str(), 0755);
  }
  ~DocRoot() { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  DocRoot(const DocRoot&) = delete;
  DocRoot& operator=(const DocRoot&) = delete;

  const std::string& path() const { return dir_; }
  void write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << content;
    ::chmod((dir_ + "/" + name).c_str(), 0644);
  }

 private:
  std::string dir_;
};

}  // namespace cb::testing
