#include "io/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "io/io_test_util.h"

namespace ember::io {
namespace {

using testing::expect_error;

TEST(MappedFile, MapsContentsAndMoves) {
  testing::TempDir dir;
  testing::write_file(dir.path() / "f", "hello");
  MappedFile a = MappedFile::open(dir.path() / "f");
  ASSERT_EQ(a.bytes().size(), 5u);
  EXPECT_EQ(a.bytes()[4], 'o');
  MappedFile b = std::move(a);
  EXPECT_EQ(b.bytes().size(), 5u);
  EXPECT_EQ(a.bytes().size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.path(), dir.path() / "f");
}

// The resident size (kB) of the mapping that starts at `addr`, from /proc/self/smaps; -1 if
// no mapping starts there.
int64_t resident_kb(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_mapping = false;
  const auto start = reinterpret_cast<uintptr_t>(addr);
  while (std::getline(smaps, line)) {
    const auto dash = line.find('-');
    const auto space = line.find(' ');
    if (dash != std::string::npos && space != std::string::npos && dash < space &&
        line.find_first_not_of("0123456789abcdef") == dash) {
      in_mapping = std::stoull(line.substr(0, dash), nullptr, 16) == start;
      continue;
    }
    if (in_mapping && line.rfind("Rss:", 0) == 0) {
      std::istringstream in(line.substr(4));
      int64_t kb = -1;
      in >> kb;
      return kb;
    }
  }
  return -1;
}

TEST(MappedFile, PagesAreResidentRightAfterOpen) {
  // Weights are faulted in at load (MAP_POPULATE), not by the first requests that touch them.
  testing::TempDir dir;
  const std::string contents(1 << 20, 'x');  // 1 MiB: 256 pages, none touched below
  testing::write_file(dir.path() / "w", contents);
  const MappedFile f = MappedFile::open(dir.path() / "w");
  ASSERT_EQ(f.bytes().size(), contents.size());
  EXPECT_GE(resident_kb(f.bytes().data()), 1024) << "the mapping was not populated";
}

TEST(MappedFile, EmptyFileIsEmptyView) {
  testing::TempDir dir;
  testing::write_file(dir.path() / "empty", "");
  const MappedFile f = MappedFile::open(dir.path() / "empty");
  EXPECT_EQ(f.bytes().size(), 0u);
}

TEST(MappedFile, Errors) {
  testing::TempDir dir;
  expect_error([&] { MappedFile::open(dir.path() / "missing"); }, ErrorKind::kNotFound,
               "no such file");
  expect_error([&] { MappedFile::open(dir.path() / "missing" / "deeper"); }, ErrorKind::kNotFound,
               "no such file");
  expect_error([&] { MappedFile::open(dir.path()); }, ErrorKind::kInvalidInput, "is a directory");
  expect_error([&] { MappedFile::open("/dev/null"); }, ErrorKind::kInvalidInput,
               "not a regular file");
}

}  // namespace
}  // namespace ember::io
