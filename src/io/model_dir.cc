#include "io/model_dir.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"

namespace fs = std::filesystem;

namespace ember::io {
namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

std::optional<fs::path> if_file(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return p;
  return std::nullopt;
}

ModelFiles files_in(const fs::path& dir) {
  ModelFiles files;
  files.dir = dir;
  files.config = if_file(dir / "config.json");
  files.safetensors = if_file(dir / "model.safetensors");
  files.checkpoint = find_checkpoint(dir);
  files.tokenizer = if_file(dir / "tokenizer.json");
  files.onnx = if_file(dir / "model.onnx");
  if (!files.onnx) {
    std::vector<fs::path> onnx;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".onnx" && e.is_regular_file(ec)) onnx.push_back(e.path());
    if (onnx.size() > 1)
      fail(ErrorKind::kInvalidInput, dir.string(),
           ": several .onnx files and no model.onnx; keep one, or name it model.onnx");
    if (onnx.size() == 1) files.onnx = onnx[0];
  }
  if (!files.checkpoint && !files.onnx)
    fail(ErrorKind::kInvalidInput, dir.string(),
         ": not a model directory (no model.safetensors, model.safetensors.index.json, "
         "pytorch_model.bin, pytorch_model.bin.index.json, tf_model.h5 or *.onnx file)");
  return files;
}

}  // namespace

fs::path model_cache_dir() {
  if (const char* v = env("EMBER_MODEL_CACHE")) return v;
  if (const char* v = env("XDG_CACHE_HOME")) return fs::path(v) / "ember" / "models";
  if (const char* v = env("HOME")) return fs::path(v) / ".cache" / "ember" / "models";
  return fs::path(".cache") / "ember" / "models";
}

std::vector<std::string> cached_model_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_cache_dir(), ec)) {
    const std::string name = e.path().filename().string();
    // Hidden entries are the fetch script's work in progress.
    if (e.is_directory(ec) && !name.empty() && name[0] != '.') names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

ModelFiles resolve_model(const std::string& name_or_path) {
  if (name_or_path.empty()) fail(ErrorKind::kInvalidInput, "empty model name");
  std::error_code ec;
  if (fs::is_directory(name_or_path, ec)) return files_in(name_or_path);

  // "sentence-transformers/all-MiniLM-L6-v2" -> "all-minilm-l6-v2"; the cache holds the
  // directory under the model's own name, without the organisation.
  const std::string wanted = lower(name_or_path);
  const size_t slash = wanted.rfind('/');
  const std::string base = slash == std::string::npos ? wanted : wanted.substr(slash + 1);
  const auto names = cached_model_names();
  std::optional<std::string> match;
  for (const auto& name : names) {
    if (name == name_or_path || name == name_or_path.substr(name_or_path.rfind('/') + 1)) {
      match = name;  // an exact-case match wins over a case-insensitive one
      break;
    }
    const std::string l = lower(name);
    if (!match && (l == wanted || l == base)) match = name;
  }
  if (match) return files_in(model_cache_dir() / *match);

  std::string cached;
  for (const auto& n : names) cached += (cached.empty() ? "" : ", ") + n;
  fail(ErrorKind::kNotFound, "model '", name_or_path,
       "' not found: not a directory, and not in the cache ", model_cache_dir().string(),
       " (cached: ", cached.empty() ? "none" : cached, "). Run scripts/fetch_models.sh");
}

std::vector<fs::path> side_files(const fs::path& dir) {
  static const char* kWeights[] = {".safetensors", ".bin", ".onnx", ".h5",   ".msgpack",
                                   ".ot",          ".pt",  ".pth",  ".ckpt", ".onnx_data"};
  std::vector<fs::path> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::path rel = fs::relative(it->path(), dir);
    const std::string name = rel.filename().string();
    if (it->is_directory()) {
      if (name == "onnx" || name == "openvino" || name.starts_with("."))
        it.disable_recursion_pending();
      continue;
    }
    const std::string ext = rel.extension().string();
    if (!it->is_regular_file() || name.starts_with(".") || rel == "SOURCE" ||
        name.ends_with(".index.json") ||
        std::any_of(std::begin(kWeights), std::end(kWeights),
                    [&](const char* e) { return ext == e; }))
      continue;
    out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ember::io
