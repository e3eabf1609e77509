#include "io/mapped_file.h"

#include <gtest/gtest.h>

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
