// doc_root.h: a temporary document root for the whole-server HTTP tests
// (conformance, robustness, service): a mkdtemp folder under /tmp that the
// test fills with write() and that is removed with everything in it.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace cb::testing {

class DocRoot {
 public:
  explicit DocRoot(const std::string& prefix = "cb-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    dir_ = ::mkdtemp(tmpl.data());
  }
  ~DocRoot() { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  DocRoot(const DocRoot&) = delete;
  DocRoot& operator=(const DocRoot&) = delete;

  const std::string& path() const { return dir_; }
  void write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << content;
  }

 private:
  std::string dir_;
};

}  // namespace cb::testing
