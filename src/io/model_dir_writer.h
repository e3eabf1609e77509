// The one way a tool writes a model directory (`ember quantize`, and every tool that makes a
// model from another): the output appears complete or not at all, and the model it is made
// from is never touched.
//
// - An existing output is refused unless `force` (an empty directory counts as absent).
// - The output must not be the source, lie inside it, hold it, be a symbolic link, or hold a
//   file that is a source file (a hard link or a symbolic link to it; compared by device and
//   inode): each is refused even with `force`, before any work.
// - Files are written into a staging directory next to the output (same filesystem), flushed
//   to disk (fsync of every file and directory) and renamed into place by commit(). With
//   `force`, the old output is swapped out only after the new one is complete, then removed.
// - Anything that fails before commit() (a full disk, a file-size limit, an exception in the
//   tool) leaves the old output byte-identical and removes the staging directory.
#pragma once

#include <filesystem>
#include <string>

namespace ember::io {

struct ModelDirWriterOptions {
  bool force = false;  // replace an existing output, once the new one is complete
};

// For a process about to exit on a signal (cli/signals.h): removes the staging directory of
// every writer not yet committed, and keeps any commit from starting or finishing its renames
// afterwards (the caller exits without returning). A commit in progress finishes first, so an
// output is either complete in place or not there, and an output being replaced is never lost.
void abandon_staging_dirs();

class ModelDirWriter {
 public:
  // Checks `out` against `source` (the model directory the tool reads) and creates the staging
  // directory, and the output's missing parent directories. Throws kInvalidInput naming the
  // path for every refusal above, kUnavailable when the filesystem refuses (permissions, space).
  ModelDirWriter(const std::filesystem::path& out, const std::filesystem::path& source,
                 ModelDirWriterOptions options = {});
  ~ModelDirWriter();  // removes the staging directory unless commit() succeeded
  ModelDirWriter(const ModelDirWriter&) = delete;
  ModelDirWriter& operator=(const ModelDirWriter&) = delete;

  const std::filesystem::path& out() const { return out_; }
  // Where the tool writes the output's files (a fresh directory, empty at first).
  const std::filesystem::path& staging() const { return staging_; }

  // Copies `from` to staging()/rel, creating rel's directories; kUnavailable naming the path
  // when it cannot (e.g. "File too large").
  void copy_file(const std::filesystem::path& from, const std::filesystem::path& rel) const;

  // Flushes the staged files to disk, checks `out` again (it may have changed while the tool
  // worked) and renames the staging directory into place. Throws as the constructor does; the
  // old output, if any, is then untouched.
  void commit();

 private:
  std::filesystem::path out_, source_, staging_;
  ModelDirWriterOptions options_;
  bool committed_ = false;
};

}  // namespace ember::io
