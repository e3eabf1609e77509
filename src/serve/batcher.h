// TokenBudgetBatcher: the one scheduler thread between the HTTP threads and the Engine.
// Requests (jobs) from all connections wait in a bounded queue; the scheduler packs their
// sequences into one padding-free Batch of at most max_batch_tokens tokens and
// max_batch_sequences sequences, runs it, and hands each job its own rows of the result.
// A job larger than one batch is split across batches; a sequence longer than the token budget
// runs alone.
//
// Fair queueing: each batch is filled from the jobs that have had the fewest tokens computed
// so far (among new jobs the smallest first, then arrival order), so a small request waits
// for at most the batch in progress, never behind large ones; large jobs take turns. A batch
// that starts with a new job takes only new jobs that fit in it whole, so that a small
// request's own batch is not filled up with a large one's slices. Under a flood of small
// requests a large one may wait until its queue deadline (429).
// A job whose deadline passed before any of it ran is dropped; a job whose client is gone
// (disconnected, gRPC deadline or cancel) is dropped before its next batch, started or not.
//
// Isolation: when a batch fails, each half is run again (down to the job that fails alone), so
// a request that fails inside a batch fails alone and every other one gets its result.
//
// With run_inline_when_idle, a job submitted while the queue is empty and no batch is
// computing runs at once on the submitting thread (a batch of one job), so a lone request
// pays no hand-off to the scheduler thread and back; jobs that arrive meanwhile queue, and
// the scheduler packs them together once that batch is done, as before. The submitting
// thread's InlineGate (serve/inline_gate.h), if it has one, may refuse: the job then queues.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "ember/ember.h"
#include "serve/http_types.h"

namespace ember::serve {

class Metrics;

struct BatcherOptions {
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_sequences = 64;  // --max-batch-requests: inputs per batch, as TEI counts
  size_t max_queue = 256;            // jobs waiting, not yet started
  // A job that finds the batcher idle (empty queue, nothing computing) and fits one batch
  // runs on the submitting thread inside submit() (if that thread's InlineGate agrees); its
  // done is then called there too.
  bool run_inline_when_idle = false;
  std::string metrics_label;  // the model's `model` label on the batch metrics; "": none
};

struct Sequence {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;  // empty: all zeros
};

struct JobResult {
  std::optional<Error> error;  // set: no outputs
  int64_t hidden_size = 0;
  int64_t num_labels = 0;
  std::vector<float> pooled;               // kPooled: [sequences][hidden_size]
  std::vector<std::vector<float>> hidden;  // kHidden: per sequence, [tokens][hidden_size]
  std::vector<float> seq_logits;           // kSeqLogits: [sequences][num_labels]
  // kSparse: per sequence, its non-zero entries as (index, value) pairs, flattened.
  std::vector<std::vector<float>> sparse;
  double queue_ms = 0;      // enqueue -> first batch start
  double inference_ms = 0;  // sum of the batches the job ran in
};

struct Job {
  std::vector<Sequence> sequences;
  unsigned outputs = ember::kPooled;  // ember::Output bits this job needs
  Clock::time_point deadline = Clock::time_point::max();
  // Set once the client has disconnected (or a cut drain answered it): the job is dropped
  // before its next batch, started or not.
  std::shared_ptr<const std::atomic<bool>> client_gone;
  // Called once, on the scheduler thread (or, with run_inline_when_idle, on the thread that
  // submitted it, before submit returns): it must only hand the result off (post/dispatch).
  std::function<void(JobResult)> done;
};

// The compute: ember::Model::run on a packed batch, asked for the union of the outputs the jobs
// in it need.
using RunBatch = std::function<ember::Outputs(const ember::Batch&, unsigned outputs)>;

class TokenBudgetBatcher {
 public:
  TokenBudgetBatcher(BatcherOptions options, RunBatch run, Metrics* metrics = nullptr);
  ~TokenBudgetBatcher();
  TokenBudgetBatcher(const TokenBudgetBatcher&) = delete;
  TokenBudgetBatcher& operator=(const TokenBudgetBatcher&) = delete;

  // Throws kOverloaded when the queue is full, kUnavailable after stop(), kInvalidInput for
  // a job without sequences. On success, job.done will be called exactly once (possibly
  // before submit returns, see run_inline_when_idle).
  void submit(Job job);
  // Stops taking jobs, finishes every queued one, joins the scheduler. Idempotent.
  void stop();

  size_t queue_depth() const;    // jobs waiting (not fully started)
  size_t queued_inputs() const;  // their inputs not yet taken into a batch (TEI's queue size)
  size_t pending_jobs() const;   // submitted and not yet completed
  uint64_t dropped_disconnected() const { return dropped_disconnected_; }  // never run
  uint64_t dropped_deadline() const { return dropped_deadline_; }          // never run, too late
  uint64_t isolation_reruns() const { return isolation_reruns_; }          // failed batches split

 private:
  struct JobState;
  struct Slice {
    std::shared_ptr<JobState> job;
    size_t first = 0, count = 0;
  };
  void schedule_loop();
  std::vector<Slice> take_batch(std::vector<std::shared_ptr<JobState>>& expired);
  void run_batch(const std::vector<Slice>& slices);
  // Runs slices as one batch; on failure with several jobs in it, each half again.
  void run_isolated(std::span<const Slice> slices);
  // Completes the expired jobs, runs the batch, then clears computing_ (mutex_ not held).
  void execute(const std::vector<Slice>& slices, std::vector<std::shared_ptr<JobState>>& expired);
  bool fits_one_batch(const Job& job) const;
  static void copy_rows(const Slice& s, const ember::Outputs& out, const ember::Batch& batch,
                        size_t row);
  static void complete(JobState& job) noexcept;

  const BatcherOptions options_;
  const RunBatch run_;
  Metrics* const metrics_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<JobState>> queue_;
  size_t pending_ = 0;
  bool stopping_ = false;
  bool computing_ = false;  // a batch is running (scheduler or inline); one at a time
  uint64_t submitted_ = 0;  // arrival order of jobs
  std::atomic<uint64_t> dropped_disconnected_{0};
  std::atomic<uint64_t> dropped_deadline_{0};
  std::atomic<uint64_t> isolation_reruns_{0};
  std::thread scheduler_;
};

}  // namespace ember::serve
