// ModelDirWriter: an output appears complete or not at all, an existing one is replaced only
// with force and only once the new one is complete, and the source is never touched, however
// the output is linked to it. Every "untouched" is a comparison of each file's bytes (a hash of
// the content, the file type and link target), not of sizes.
#include "io/model_dir_writer.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/tensor.h"
#include "io/io_test_util.h"
#include "io/safetensors_writer.h"

namespace ember::io {
namespace {
namespace fs = std::filesystem;
using testing::expect_error;
using testing::write_file;

// FNV-1a over a file's bytes.
uint64_t hash_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  uint64_t h = 1469598103934665603ull;
  char buf[1 << 16];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ull;
    }
  }
  return h;
}

// Relative path -> what is there: a file's content hash, a link's target, or "dir".
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = fs::relative(it->path(), dir).string();
    if (it->is_symlink())
      out[rel] = "link:" + fs::read_symlink(it->path()).string();
    else if (it->is_directory())
      out[rel] = "dir";
    else
      out[rel] = "file:" + std::to_string(hash_file(it->path()));
  }
  return out;
}

// Names in `dir` other than `keep`: staging or old-output directories left behind.
std::vector<std::string> leftovers(const fs::path& dir, const std::set<std::string>& keep) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (!keep.count(e.path().filename().string())) out.push_back(e.path().filename().string());
  return out;
}

class ModelDirWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = tmp_.path() / "source";
    write_file(source_ / "config.json", R"({"model_type": "bert"})");
    write_file(source_ / "model.safetensors", std::string(100000, 'w'));
    write_file(source_ / "1_Pooling/config.json", "{}");
    source_before_ = snapshot(source_);
  }
  void TearDown() override { EXPECT_EQ(snapshot(source_), source_before_) << "the source changed"; }

  // An earlier, good output.
  fs::path old_output() {
    const fs::path out = tmp_.path() / "out";
    write_file(out / "config.json", "old config");
    write_file(out / "model.safetensors", std::string(5000, 'o'));
    return out;
  }

  testing::TempDir tmp_;
  fs::path source_;
  std::map<std::string, std::string> source_before_;
};

TEST_F(ModelDirWriterTest, OutputAppearsOnlyAtCommit) {
  const fs::path out = tmp_.path() / "nested/out";
  ModelDirWriter w(out, source_);
  EXPECT_EQ(w.out(), out);
  EXPECT_EQ(w.staging().parent_path(), out.parent_path());  // same filesystem: rename works
  write_file(w.staging() / "model.safetensors", "new weights");
  w.copy_file(source_ / "1_Pooling/config.json", "1_Pooling/config.json");
  EXPECT_FALSE(fs::exists(out));
  w.commit();
  EXPECT_EQ(
      snapshot(out),
      (std::map<std::string, std::string>{
          {"1_Pooling", "dir"},
          {"1_Pooling/config.json", snapshot(source_)["1_Pooling/config.json"]},
          {"model.safetensors", "file:" + std::to_string(hash_file(out / "model.safetensors"))}}));
  EXPECT_EQ(hash_file(out / "model.safetensors"), [&] {
    write_file(tmp_.path() / "expected", "new weights");
    return hash_file(tmp_.path() / "expected");
  }());
  EXPECT_EQ(leftovers(out.parent_path(), {"out"}), std::vector<std::string>{});
}

TEST_F(ModelDirWriterTest, NoCommitLeavesNothing) {
  const fs::path out = tmp_.path() / "out";
  {
    ModelDirWriter w(out, source_);
    write_file(w.staging() / "model.safetensors", "half");
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(leftovers(tmp_.path(), {"source"}), std::vector<std::string>{});
}

TEST_F(ModelDirWriterTest, ExistingOutputIsRefusedWithoutForceAndUntouched) {
  const fs::path out = old_output();
  const auto before = snapshot(out);
  expect_error([&] { ModelDirWriter w(out, source_); }, ErrorKind::kInvalidInput,
               out.string() + " already exists");
  EXPECT_EQ(snapshot(out), before);
  // An existing regular file is an existing output too.
  write_file(tmp_.path() / "file", "keep me");
  expect_error([&] { ModelDirWriter w(tmp_.path() / "file", source_); }, ErrorKind::kInvalidInput,
               "already exists");
  EXPECT_EQ(leftovers(tmp_.path(), {"source", "out", "file"}), std::vector<std::string>{});
}

TEST_F(ModelDirWriterTest, OutputThatAppearsWhileWritingIsNotReplaced) {
  const fs::path out = tmp_.path() / "out";
  ModelDirWriter w(out, source_);
  write_file(w.staging() / "config.json", "new");
  old_output();
  const auto before = snapshot(out);
  expect_error([&] { w.commit(); }, ErrorKind::kInvalidInput, "already exists");
  EXPECT_EQ(snapshot(out), before);
}

TEST_F(ModelDirWriterTest, EmptyDirectoryCountsAsAbsent) {
  const fs::path out = tmp_.path() / "out";
  fs::create_directories(out);
  ModelDirWriter w(out, source_);
  write_file(w.staging() / "config.json", "new");
  w.commit();
  EXPECT_EQ(snapshot(out).size(), 1u);
  EXPECT_TRUE(fs::exists(out / "config.json"));
}

TEST_F(ModelDirWriterTest, ForceReplacesOnlyOnceTheNewOutputIsComplete) {
  const fs::path out = old_output();
  const auto before = snapshot(out);
  ModelDirWriter w(out, source_, {.force = true});
  write_file(w.staging() / "model.safetensors", "new weights");
  EXPECT_EQ(snapshot(out), before);  // the old output stays until commit
  w.commit();
  const auto after = snapshot(out);
  EXPECT_EQ(after.size(), 1u);  // the old config.json went with the old output
  EXPECT_NE(after.at("model.safetensors"), before.at("model.safetensors"));
  EXPECT_EQ(leftovers(tmp_.path(), {"source", "out"}), std::vector<std::string>{});
}

TEST_F(ModelDirWriterTest, FailureBeforeCommitLeavesTheOldOutputByteIdentical) {
  const fs::path out = old_output();
  const auto before = snapshot(out);
  try {
    ModelDirWriter w(out, source_, {.force = true});
    write_file(w.staging() / "model.safetensors", "partial");
    throw std::runtime_error("the tool failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(snapshot(out), before);
  EXPECT_EQ(leftovers(tmp_.path(), {"source", "out"}), std::vector<std::string>{});
}

TEST_F(ModelDirWriterTest, OutputIsTheSourceInsideItOrHoldsIt) {
  for (const bool force : {false, true}) {
    expect_error([&] { ModelDirWriter w(source_, source_, {force}); }, ErrorKind::kInvalidInput,
                 "is the model directory");
    expect_error([&] { ModelDirWriter w(source_ / "int8", source_, {force}); },
                 ErrorKind::kInvalidInput, "is inside the model directory");
    expect_error([&] { ModelDirWriter w(source_ / "1_Pooling", source_, {force}); },
                 ErrorKind::kInvalidInput, "is inside the model directory");
    // The same directory under another name: a link to it, or "dir/../source/".
    fs::create_directory_symlink(source_, tmp_.path() / "alias");
    expect_error([&] { ModelDirWriter w(tmp_.path() / "alias", source_, {force}); },
                 ErrorKind::kInvalidInput, "symbolic link");
    expect_error([&] { ModelDirWriter w(tmp_.path() / "alias/int8", source_, {force}); },
                 ErrorKind::kInvalidInput, "is inside the model directory");
    expect_error([&] { ModelDirWriter w(tmp_.path() / "source/../source/", source_, {force}); },
                 ErrorKind::kInvalidInput, "is the model directory");
    // Replacing a parent of the source would remove the source.
    expect_error([&] { ModelDirWriter w(tmp_.path(), source_, {force}); }, ErrorKind::kInvalidInput,
                 "holds the model directory");
    fs::remove(tmp_.path() / "alias");
  }
  EXPECT_EQ(leftovers(tmp_.path(), {"source"}), std::vector<std::string>{});
}

TEST_F(ModelDirWriterTest, OutputSharingASourceFileIsRefusedEvenWithForce) {
  const fs::path out = old_output();
  fs::remove(out / "model.safetensors");
  fs::create_hard_link(source_ / "model.safetensors", out / "model.safetensors");
  expect_error([&] { ModelDirWriter w(out, source_); }, ErrorKind::kInvalidInput, "already exists");
  expect_error([&] { ModelDirWriter w(out, source_, {.force = true}); }, ErrorKind::kInvalidInput,
               "(a hard link)");

  fs::remove(out / "model.safetensors");
  fs::create_symlink(source_ / "model.safetensors", out / "model.safetensors");
  expect_error([&] { ModelDirWriter w(out, source_, {.force = true}); }, ErrorKind::kInvalidInput,
               "a symbolic link to the model's " + (source_ / "model.safetensors").string());

  // A linked sub-directory too.
  fs::remove(out / "model.safetensors");
  fs::create_directory_symlink(source_ / "1_Pooling", out / "1_Pooling");
  expect_error([&] { ModelDirWriter w(out, source_, {.force = true}); }, ErrorKind::kInvalidInput,
               "symbolic link to the model's");
  // The output itself a hard link of a source file.
  fs::create_hard_link(source_ / "config.json", tmp_.path() / "linked");
  expect_error([&] { ModelDirWriter w(tmp_.path() / "linked", source_, {.force = true}); },
               ErrorKind::kInvalidInput, "(a hard link)");
}

TEST_F(ModelDirWriterTest, LinkCheckedAgainAtCommit) {
  const fs::path out = old_output();
  ModelDirWriter w(out, source_, {.force = true});
  write_file(w.staging() / "config.json", "new");
  fs::remove(out / "model.safetensors");
  fs::create_hard_link(source_ / "model.safetensors", out / "model.safetensors");
  const auto before = snapshot(out);
  expect_error([&] { w.commit(); }, ErrorKind::kInvalidInput, "(a hard link)");
  EXPECT_EQ(snapshot(out), before);
}

TEST_F(ModelDirWriterTest, OutputThatIsASymbolicLinkIsRefused) {
  fs::create_directories(tmp_.path() / "elsewhere");
  fs::create_directory_symlink(tmp_.path() / "elsewhere", tmp_.path() / "out");
  expect_error([&] { ModelDirWriter w(tmp_.path() / "out", source_, {.force = true}); },
               ErrorKind::kInvalidInput, "is a symbolic link");
}

// A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored so that write() fails with EFBIG instead of
// the signal killing the process) hits while the weights are written: the writer reports it,
// the old output and the source stay byte-identical, and no staging directory is left. Runs in
// a child, since the limit is per process.
TEST_F(ModelDirWriterTest, FileSizeLimitMidWriteLeavesTheOldOutput) {
  const fs::path out = old_output();
  const auto before = snapshot(out);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{64 << 10, 64 << 10};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
    std::vector<float> big(1 << 18, 0.5f);  // 1 MiB: over the limit
    try {
      ModelDirWriter w(out, source_, {.force = true});
      write_safetensors(w.staging() / "model.safetensors",
                        {{"w", Tensor{DType::kF32, Shape{1 << 18}, big.data()}}}, {});
      w.commit();
      ::_exit(11);  // the limit did not stop the write
    } catch (const Error& e) {
      const std::string what = e.what();
      const bool named = what.find("model.safetensors") != std::string::npos &&
                         what.find("File too large") != std::string::npos;
      ::_exit(e.kind() == ErrorKind::kUnavailable && named ? 0 : 12);
    } catch (...) {
      ::_exit(13);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(snapshot(out), before);
  EXPECT_EQ(leftovers(tmp_.path(), {"source", "out"}), std::vector<std::string>{});
}

TEST(SafetensorsWriter, NeverWritesThroughAnExistingPath) {
  testing::TempDir tmp;
  write_file(tmp.path() / "target", "precious");
  fs::create_symlink(tmp.path() / "target", tmp.path() / "link");
  fs::create_hard_link(tmp.path() / "target", tmp.path() / "hard");
  float v = 1;
  for (const char* name : {"link", "hard", "target"})
    expect_error(
        [&] {
          write_safetensors(tmp.path() / name, {{"w", Tensor{DType::kF32, Shape{1}, &v}}}, {});
        },
        ErrorKind::kUnavailable, "cannot create");
  std::ifstream in(tmp.path() / "target");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "precious");
}

}  // namespace
}  // namespace ember::io
