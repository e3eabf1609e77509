// The unlabeled texts pruning measures on: a file of texts one per line, or, named *.jsonl or
// *.json, JSON lines (each a JSON string, or an object with "text"), tokenized by the model's own
// rule and packed into batches, split (seeded) into the part the least-squares re-fit sees and a
// held-out part that the reconstruction error is reported on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/batch.h"
#include "runtime/engine.h"

namespace ember::prune {

// kNotFound (missing file), kInvalidInput (no text in it, or a JSON line that does not parse or
// holds no text, naming the line). Blank lines are skipped.
std::vector<std::string> read_texts(const std::filesystem::path& path);

// The calibration text when none is given: the human-rated English sentences of the VADER set
// (Hutto & Gilbert 2014) that scripts/fetch_data.sh puts in Ember's data cache ($EMBER_DATA_DIR,
// else $XDG_CACHE_HOME/ember/data, else ~/.cache/ember/data): tweets, Amazon product reviews
// and New York Times editorials, 13,098 lines; not the movie reviews, which docs/pruning.md
// measures quality on. kNotFound, naming the script, when they are not there.
std::vector<std::string> default_texts();
// The data cache directory above.
std::filesystem::path data_cache_dir();

// `--labels`: one label per non-blank line, the label of the calibration text at the same place
// (blank lines skipped in both), as a name of the model's id2label or a class index. kNotFound
// (missing file); kInvalidInput naming the line for a label the model does not have, and for a
// file with more or fewer labels than `texts`.
std::vector<int> read_labels(const std::filesystem::path& path,
                             const std::vector<std::string>& names, size_t texts);

struct CalibrationOptions {
  int64_t max_texts = 2048;        // of the file, after the seeded shuffle
  double held_out_fraction = 0.2;  // at least one text when there are two or more
  int64_t batch_sequences = 32;    // sequences per packed batch
  uint64_t seed = 0;
};

struct Calibration {
  std::vector<model::Batch> fit, held_out;
  int64_t fit_texts = 0, held_out_texts = 0, fit_tokens = 0;
  std::vector<int> fit_labels, held_out_labels;  // in batch order, when labels are given
};

// `labels` (one per text, or empty) follow their texts through the sample and the split.
Calibration make_calibration(const std::vector<std::string>& texts, const runtime::Engine& engine,
                             const CalibrationOptions& options,
                             const std::vector<int>& labels = {});

}  // namespace ember::prune
