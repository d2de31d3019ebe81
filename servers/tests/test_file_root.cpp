// test_file_root.cpp: unit tests of FileRoot (servers/protocol/file_root.cpp),
// the only code that opens files for HTTP: statuses, sizes, directories,
// symlinks in and out of the root, and the openat2-less fallback, which the
// tests force so it runs on every kernel. Run:
//   ctest --test-dir build -R 'FileRoot'
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "common/status.h"
#include "protocol/http.h"

namespace cb::proto {

struct FileRootTestPeer {
  static void force_fallback(FileRoot& root) { root.use_openat2_ = false; }
  static bool uses_openat2(const FileRoot& root) { return root.use_openat2_; }
};

namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream f(path, std::ios::binary);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(f.good()) << path;
}

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  for (off_t at = 0;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n <= 0) return s;
    s.append(buf, static_cast<std::size_t>(n));
    at += n;
  }
}

// Runs each test twice: with openat2 (where the kernel has it) and with the
// component-by-component fallback.
class FileRootTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "cb-root-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    base_ = templ;
    fs::path r = base_ / "root";
    fs::create_directories(r / "dir" / "sub");
    fs::create_directories(r / "noindex");
    fs::create_directories(r / "dirindex" / "index.html");  // an index that is a directory
    fs::create_directories(base_ / "outside");
    write_file(r / "index.html", "root index");
    write_file(r / "file.txt", "twelve bytes");
    write_file(r / "dir" / "index.html", "dir index");
    write_file(r / "dir" / "sub" / "deep.json", "{}");
    write_file(base_ / "outside" / "secret.txt", "secret");
    fs::create_symlink("file.txt", r / "link_in");
    fs::create_symlink("../outside/secret.txt", r / "link_out");
    fs::create_symlink(base_ / "outside" / "secret.txt", r / "link_abs");
    fs::create_directory_symlink("../outside", r / "linkdir_out");
    fs::create_symlink("/proc/self/root/etc/hostname", r / "link_magic");
    ASSERT_EQ(::mkfifo((r / "fifo").c_str(), 0644), 0);
    root_ = std::make_unique<FileRoot>(r.string());
    if (fallback()) FileRootTestPeer::force_fallback(*root_);
  }
  void TearDown() override {
    root_.reset();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  bool fallback() const { return GetParam(); }

  int status(std::string_view path) const { return root_->open(path).status; }

  fs::path base_;
  std::unique_ptr<FileRoot> root_;
};

TEST_P(FileRootTest, OpensRegularFilesWithSizeAndType) {
  FileRoot::Opened f = root_->open("/file.txt");
  ASSERT_EQ(f.status, 200);
  EXPECT_EQ(f.size, 12u);
  EXPECT_EQ(f.content_type, "text/plain");
  ASSERT_TRUE(f.file);
  EXPECT_EQ(read_all(f.file.get()), "twelve bytes");
  EXPECT_NE(::fcntl(f.file.get(), F_GETFD) & FD_CLOEXEC, 0);

  FileRoot::Opened deep = root_->open("/dir/sub/deep.json");
  ASSERT_EQ(deep.status, 200);
  EXPECT_EQ(deep.content_type, "application/json");
  EXPECT_EQ(read_all(deep.file.get()), "{}");
}

TEST_P(FileRootTest, DirectoriesServeTheirIndexHtml) {
  for (std::string_view path : {"/", "//", "/.", "/./"}) {
    FileRoot::Opened f = root_->open(path);
    ASSERT_EQ(f.status, 200) << path;
    EXPECT_EQ(read_all(f.file.get()), "root index") << path;
    EXPECT_EQ(f.content_type, "text/html");
  }
  for (std::string_view path : {"/dir/", "/dir//", "/dir/./"}) {
    FileRoot::Opened f = root_->open(path);
    ASSERT_EQ(f.status, 200) << path;
    EXPECT_EQ(read_all(f.file.get()), "dir index") << path;
  }
  // Without the trailing slash the client is redirected (301, no file open),
  // so relative links in the index resolve beneath the directory.
  for (std::string_view path : {"/dir", "/dir/."}) {
    FileRoot::Opened f = root_->open(path);
    EXPECT_EQ(f.status, 301) << path;
    EXPECT_FALSE(f.file) << path;
  }
  EXPECT_EQ(status("/noindex/"), 404);
  EXPECT_EQ(status("/dirindex/"), 404);  // index.html is itself a directory
}

TEST_P(FileRootTest, MissingAndNonRegularFilesAre404) {
  EXPECT_EQ(status("/nope"), 404);
  EXPECT_EQ(status("/dir/nope/x"), 404);
  EXPECT_EQ(status("/file.txt/"), 404);
  EXPECT_EQ(status("/file.txt/x"), 404);
  EXPECT_EQ(status("/fifo"), 404);  // opened non-blocking, refused by fstat
  EXPECT_EQ(status("/" + std::string(300, 'n')), 404);  // name too long
}

TEST_P(FileRootTest, DotDotAndNulAreRefusedWith400) {
  for (std::string_view path : {"/..", "/../outside/secret.txt", "/dir/../file.txt", "/dir/..",
                                "/dir/sub/../../file.txt", "..", "file.txt", ""}) {
    FileRoot::Opened f = root_->open(path);
    EXPECT_EQ(f.status, 400) << path;
    EXPECT_FALSE(f.file) << path;
  }
  EXPECT_EQ(status(std::string_view("/file.txt\0x", 11)), 400);
  // Names that merely contain dots are ordinary names.
  EXPECT_EQ(status("/..."), 404);
  EXPECT_EQ(status("/..a"), 404);
}

TEST_P(FileRootTest, AbsoluteLookingPathsStayInsideTheRoot) {
  EXPECT_EQ(status("//etc/passwd"), 404);
  EXPECT_EQ(status("/etc/passwd"), 404);
  EXPECT_EQ(status(base_.string() + "/outside/secret.txt"), 404);
}

TEST_P(FileRootTest, SymlinksLeavingTheRootAreRefused) {
  for (std::string_view path : {"/link_out", "/link_abs", "/linkdir_out/secret.txt", "/link_magic"}) {
    FileRoot::Opened f = root_->open(path);
    EXPECT_EQ(f.status, 404) << path;
    EXPECT_FALSE(f.file) << path;
  }
}

TEST_P(FileRootTest, SymlinksInsideTheRootDependOnTheMode) {
  FileRoot::Opened f = root_->open("/link_in");
  if (fallback()) {
    EXPECT_EQ(f.status, 404) << "the fallback refuses every symlink";
  } else {
    ASSERT_EQ(f.status, 200);
    EXPECT_EQ(read_all(f.file.get()), "twelve bytes");
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, FileRootTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& mode) {
                           return mode.param ? std::string("Fallback") : std::string("Openat2");
                         });

TEST(FileRoot, ProbesOpenat2) {
  char templ[] = "/tmp/cb-probe-XXXXXX";
  ASSERT_NE(::mkdtemp(templ), nullptr);
  {
    FileRoot root(templ);
    EXPECT_GE(root.fd(), 0);
    // Where this process can call openat2, the root must use it.
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH;
    long fd = ::syscall(SYS_openat2, root.fd(), ".", &how, sizeof how);
    if (fd >= 0) ::close(static_cast<int>(fd));
    EXPECT_EQ(FileRootTestPeer::uses_openat2(root), fd >= 0);
  }
  ::rmdir(templ);
}

TEST(FileRoot, ConstructorThrowsForAMissingDirectoryOrAFile) {
  EXPECT_THROW(FileRoot("/nonexistent/cb-bench-root"), SysError);
  char templ[] = "/tmp/cb-file-XXXXXX";
  int fd = ::mkstemp(templ);
  ASSERT_GE(fd, 0);
  ::close(fd);
  try {
    FileRoot root(templ);
    ADD_FAILURE() << "a regular file was accepted as the root";
  } catch (const SysError& e) {
    EXPECT_EQ(e.error(), ENOTDIR);
  }
  ::unlink(templ);
}

}  // namespace
}  // namespace cb::proto
