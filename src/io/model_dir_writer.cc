#include "io/model_dir_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace ember::io {
namespace fs = std::filesystem;

namespace {

// A file's identity: two paths name the same file (hard links, symbolic links, bind mounts)
// exactly when these are equal.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  auto operator<=>(const FileId&) const = default;
};

std::optional<FileId> file_id(const fs::path& p, bool follow_links) {
  struct stat st {};
  if ((follow_links ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st)) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

std::string errno_text(int e) {
  return std::generic_category().message(e);
}

[[noreturn]] void fail_io(const fs::path& p, const std::string& what, int e) {
  fail(ErrorKind::kUnavailable, p.string(), ": ", what, ": ", errno_text(e));
}

// Every directory and file of the source as the tool reads it (symbolic links followed), by
// identity, so that an output sharing any of them is found whatever its path.
std::map<FileId, fs::path> source_files(const fs::path& source) {
  std::map<FileId, fs::path> ids;
  if (const auto id = file_id(source, true)) ids.emplace(*id, source);
  std::error_code ec;
  fs::recursive_directory_iterator it(source, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (const auto id = file_id(it->path(), true)) ids.emplace(*id, it->path());
  return ids;
}

// `p` and its parents, each that exists, by identity (symbolic links resolved first).
std::vector<FileId> chain_of(const fs::path& p) {
  std::error_code ec;
  fs::path at = fs::weakly_canonical(p, ec);
  if (ec) at = p;
  std::vector<FileId> chain;
  for (;;) {
    if (const auto id = file_id(at, true)) chain.push_back(*id);
    if (at == at.root_path() || !at.has_parent_path()) break;
    at = at.parent_path();
  }
  return chain;
}

bool contains(const std::vector<FileId>& chain, const std::optional<FileId>& id) {
  return id && std::find(chain.begin(), chain.end(), *id) != chain.end();
}

enum class Target { kAbsent, kEmptyDir, kExisting };

// The refusals that hold even with force; then what is at `out` now.
Target check_target(const fs::path& out, const fs::path& source, bool force) {
  struct stat st {};
  const bool exists = ::lstat(out.c_str(), &st) == 0;
  EMBER_CHECK(!exists || !S_ISLNK(st.st_mode), ErrorKind::kInvalidInput, "output ", out.string(),
              " is a symbolic link; give the directory itself");
  const auto source_id = file_id(source, true);
  const auto out_chain = chain_of(out);
  EMBER_CHECK(!contains(out_chain, source_id), ErrorKind::kInvalidInput, "output ", out.string(),
              exists && file_id(out, true) == source_id ? " is" : " is inside",
              " the model directory it is made from (", source.string(), ")");
  if (!exists) return Target::kAbsent;
  EMBER_CHECK(!contains(chain_of(source), file_id(out, true)), ErrorKind::kInvalidInput, "output ",
              out.string(), " holds the model directory it is made from (", source.string(), ")");
  std::error_code ec;
  if (S_ISDIR(st.st_mode) && fs::is_empty(out, ec) && !ec) return Target::kEmptyDir;
  EMBER_CHECK(force, ErrorKind::kInvalidInput, "output ", out.string(),
              " already exists (--force replaces it once the new one is complete)");

  // Replacing removes the old output: none of it may be the source, through any link.
  const auto sources = source_files(source);
  auto check_entry = [&](const fs::path& p) {
    struct stat e {};
    if (::lstat(p.c_str(), &e) != 0) return;
    const auto self = sources.find(FileId{e.st_dev, e.st_ino});
    EMBER_CHECK(self == sources.end(), ErrorKind::kInvalidInput, "output ", out.string(), " holds ",
                p.string(), ", the same file as the model's ", self->second.string(),
                " (a hard link); refusing to replace it");
    if (S_ISLNK(e.st_mode)) {
      const auto target = file_id(p, true);
      const auto it = target ? sources.find(*target) : sources.end();
      EMBER_CHECK(it == sources.end(), ErrorKind::kInvalidInput, "output ", out.string(), " holds ",
                  p.string(), ", a symbolic link to the model's ", it->second.string(),
                  "; refusing to replace it");
    }
    EMBER_CHECK(!S_ISDIR(e.st_mode) || e.st_dev == st.st_dev, ErrorKind::kInvalidInput, "output ",
                out.string(), " holds a mount point (", p.string(), "); refusing to replace it");
  };
  check_entry(out);
  if (S_ISDIR(st.st_mode)) {
    fs::recursive_directory_iterator it(out, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) check_entry(*it);
    if (ec) fail_io(out, "cannot read the existing output", ec.value());
  }
  return Target::kExisting;
}

void fsync_path(const fs::path& p, bool directory) {
  const int fd =
      ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (directory ? O_DIRECTORY : 0));
  if (fd < 0) fail_io(p, "cannot open to flush", errno);
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (rc != 0) fail_io(p, "flush to disk failed", e);
}

// Every regular file and directory under `dir`, and `dir` itself.
void fsync_tree(const fs::path& dir) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink(ec)) continue;
    const bool directory = it->is_directory(ec);
    if (directory || it->is_regular_file(ec)) fsync_path(it->path(), directory);
  }
  if (ec) fail_io(dir, "cannot list", ec.value());
  fsync_path(dir, true);
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

// A name next to `out`: .<name>.<tag>-<random>.
fs::path sibling_name(const fs::path& out, const char* tag) {
  std::string name = ".";
  name += out.filename().string();
  name += '.';
  name += tag;
  name += '-';
  name += random_suffix();
  return out.parent_path() / name;
}

// A new directory next to `out`, with mkdir's permissions.
fs::path make_sibling_dir(const fs::path& out, const char* tag) {
  for (int attempt = 0;; ++attempt) {
    const fs::path p = sibling_name(out, tag);
    if (::mkdir(p.c_str(), 0777) == 0) return p;
    if (errno != EEXIST || attempt > 16) fail_io(p, "cannot create the staging directory", errno);
  }
}

// The same absolute path for "out", "./out" and "out/".
fs::path normal_out(const fs::path& out) {
  EMBER_CHECK(!out.empty(), ErrorKind::kInvalidInput, "the output directory is empty");
  fs::path p = fs::absolute(out).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  EMBER_CHECK(p.has_filename() && p != p.root_path(), ErrorKind::kInvalidInput, "output ",
              out.string(), " is not a directory that can be created");
  return p;
}

// The staging directories not yet committed, for abandon_staging_dirs(); its mutex also
// serialises commit()'s renames with it.
std::mutex& live_mutex() {
  static std::mutex m;
  return m;
}
std::set<fs::path>& live_staging() {
  static std::set<fs::path> dirs;
  return dirs;
}

}  // namespace

void abandon_staging_dirs() {
  live_mutex().lock();  // held until the process exits: no commit starts after this
  for (const fs::path& dir : live_staging()) {
    // The tool may still be writing into it: a file created during the walk leaves it
    // non-empty, so try again.
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (!fs::exists(dir, ec)) break;
    }
  }
}

ModelDirWriter::ModelDirWriter(const fs::path& out, const fs::path& source,
                               ModelDirWriterOptions options)
    : out_(normal_out(out)), source_(fs::absolute(source)), options_(options) {
  check_target(out_, source_, options_.force);
  std::error_code ec;
  fs::create_directories(out_.parent_path(), ec);
  if (ec) fail_io(out_.parent_path(), "cannot create the output's parent directory", ec.value());
  const std::lock_guard lock(live_mutex());
  staging_ = make_sibling_dir(out_, "tmp");
  live_staging().insert(staging_);
}

ModelDirWriter::~ModelDirWriter() {
  if (committed_ || staging_.empty()) return;
  const std::lock_guard lock(live_mutex());
  live_staging().erase(staging_);
  std::error_code ignored;
  fs::remove_all(staging_, ignored);
}

void ModelDirWriter::copy_file(const fs::path& from, const fs::path& rel) const {
  const fs::path to = staging_ / rel;
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (ec) fail_io(to.parent_path(), "cannot create directory", ec.value());
  fs::copy_file(from, to, ec);
  if (ec)
    fail(ErrorKind::kUnavailable, "cannot copy ", from.string(), " to ", to.string(), ": ",
         ec.message());
}

void ModelDirWriter::commit() {
  EMBER_CHECK(!committed_, ErrorKind::kInternal, "ModelDirWriter::commit called twice");
  fsync_tree(staging_);
  const std::lock_guard lock(live_mutex());
  const Target target = check_target(out_, source_, options_.force);
  fs::path old;  // where the replaced output is after the rename
  if (target == Target::kAbsent) {
    // No clobbering: something that appeared at out_ meanwhile makes this fail.
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, out_.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST)
        fail(ErrorKind::kInvalidInput, "output ", out_.string(),
             " appeared while it was being written; nothing replaced");
      if (errno != EINVAL || ::rename(staging_.c_str(), out_.c_str()) != 0)
        fail_io(out_, "cannot rename " + staging_.string() + " into place", errno);
    }
  } else if (target == Target::kEmptyDir) {
    // rename() replaces an empty directory, and fails if it is no longer empty.
    if (::rename(staging_.c_str(), out_.c_str()) != 0)
      fail_io(out_, "cannot rename " + staging_.string() + " into place", errno);
  } else if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, out_.c_str(), RENAME_EXCHANGE) ==
             0) {
    old = staging_;  // one atomic swap: the old output now sits at the staging path
  } else {
    if (errno != EINVAL) fail_io(out_, "cannot swap in " + staging_.string(), errno);
    // A filesystem without the atomic swap: move the old output aside, then the new one in.
    old = sibling_name(out_, "old");
    if (::rename(out_.c_str(), old.c_str()) != 0)
      fail_io(out_, "cannot move the old output aside", errno);
    if (::rename(staging_.c_str(), out_.c_str()) != 0) {
      const int e = errno;
      ::rename(old.c_str(), out_.c_str());
      fail_io(out_, "cannot rename " + staging_.string() + " into place", e);
    }
  }
  committed_ = true;
  live_staging().erase(staging_);
  if (!old.empty()) {
    std::error_code ignored;  // the new output is in place; a leftover is only clutter
    fs::remove_all(old, ignored);
  }
  fsync_path(out_.parent_path(), true);
}

}  // namespace ember::io
