#include "serve/batcher.h"

#include <algorithm>

#include "serve/metrics.h"

namespace ember::serve {

struct TokenBudgetBatcher::JobState {
  Job job;
  Clock::time_point enqueued;
  size_t next = 0;      // first sequence not yet taken into a batch (scheduler only)
  size_t finished = 0;  // sequences whose rows are in result (scheduler only)
  bool started = false;
  JobResult result;
};

TokenBudgetBatcher::TokenBudgetBatcher(BatcherOptions options, RunBatch run, Metrics* metrics)
    : options_(options), run_(std::move(run)), metrics_(metrics) {
  EMBER_CHECK(
      options_.max_batch_tokens > 0 && options_.max_batch_sequences > 0 && options_.max_queue > 0,
      ErrorKind::kInvalidInput, "batcher limits must be positive");
  scheduler_ = std::thread([this] { schedule_loop(); });
}

TokenBudgetBatcher::~TokenBudgetBatcher() {
  stop();
}

// A completion that throws must not take the scheduler (and every other request) down.
void TokenBudgetBatcher::complete(JobState& job) noexcept {
  try {
    job.job.done(std::move(job.result));
  } catch (...) {
  }
}

void TokenBudgetBatcher::submit(Job job) {
  EMBER_CHECK(!job.sequences.empty(), ErrorKind::kInvalidInput, "a job needs at least one input");
  auto state = std::make_shared<JobState>();
  state->job = std::move(job);
  state->enqueued = Clock::now();
  {
    std::lock_guard lock(mutex_);
    EMBER_CHECK(!stopping_, ErrorKind::kUnavailable, "the server is shutting down");
    EMBER_CHECK(queue_.size() < options_.max_queue, ErrorKind::kOverloaded, "the queue is full (",
                options_.max_queue, " requests waiting); retry later");
    queue_.push_back(std::move(state));
    ++pending_;
  }
  wake_.notify_one();
}

void TokenBudgetBatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (scheduler_.joinable()) scheduler_.join();
}

size_t TokenBudgetBatcher::queue_depth() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

size_t TokenBudgetBatcher::pending_jobs() const {
  std::lock_guard lock(mutex_);
  return pending_;
}

// Takes sequences from the head of the queue, in order, while both budgets allow; the first
// sequence is always taken so an over-budget sequence still runs (alone).
std::vector<TokenBudgetBatcher::Slice> TokenBudgetBatcher::take_batch(
    std::vector<std::shared_ptr<JobState>>& expired) {
  std::vector<Slice> slices;
  int64_t tokens = 0, sequences = 0;
  const auto now = Clock::now();
  while (!queue_.empty()) {
    auto& job = queue_.front();
    if (!job->started && job->job.deadline < now) {
      expired.push_back(std::move(job));
      queue_.pop_front();
      continue;
    }
    Slice slice{job, job->next, 0};
    while (job->next < job->job.sequences.size() && sequences < options_.max_batch_sequences) {
      const auto len = static_cast<int64_t>(job->job.sequences[job->next].ids.size());
      if (sequences > 0 && tokens + len > options_.max_batch_tokens) break;
      tokens += len;
      ++sequences;
      ++job->next;
      ++slice.count;
    }
    if (slice.count > 0) {
      if (!job->started) job->result.queue_ms = ms_between(job->enqueued, now);
      job->started = true;
      slices.push_back(slice);
    }
    if (job->next < job->job.sequences.size()) break;  // budget full mid-job
    queue_.pop_front();
  }
  return slices;
}

void TokenBudgetBatcher::schedule_loop() {
  for (;;) {
    std::vector<Slice> slices;
    std::vector<std::shared_ptr<JobState>> expired;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      slices = take_batch(expired);
    }
    for (auto& job : expired) {
      job->result.error =
          Error(ErrorKind::kOverloaded, "the request waited past its deadline before compute");
      complete(*job);
    }
    if (!slices.empty()) run_batch(slices);
    std::lock_guard lock(mutex_);
    pending_ -= expired.size();
  }
}

void TokenBudgetBatcher::run_batch(const std::vector<Slice>& slices) {
  model::Batch batch;
  for (const auto& s : slices)
    for (size_t i = s.first; i < s.first + s.count; ++i) {
      const auto& seq = s.job->job.sequences[i];
      batch.add(seq.ids, seq.type_ids);
    }
  const auto start = Clock::now();
  std::optional<Error> error;
  runtime::RunResult out;
  try {
    out = run_(batch);
    EMBER_CHECK(out.hidden_size > 0 &&
                    out.pooled.size() == static_cast<size_t>(batch.size() * out.hidden_size),
                ErrorKind::kInternal, "the engine returned ", out.pooled.size(),
                " pooled values for ", batch.size(), " sequences");
  } catch (const Error& e) {
    error = e;
  } catch (const std::exception& e) {
    error = Error(ErrorKind::kInternal, e.what());
  }
  const double ms = ms_between(start, Clock::now());
  if (metrics_) metrics_->observe_batch(batch.size(), batch.num_tokens(), ms / 1000.0);

  size_t row = 0, completed = 0;
  for (const auto& s : slices) {
    JobState& job = *s.job;
    job.result.inference_ms += ms;
    if (error && !job.result.error) job.result.error = error;
    if (!job.result.error) {
      const auto h = out.hidden_size;
      job.result.hidden_size = h;
      job.result.pooled.resize(job.job.sequences.size() * h);
      std::copy_n(out.pooled.data() + row * h, s.count * h, job.result.pooled.data() + s.first * h);
    }
    row += s.count;
    job.finished += s.count;
    if (job.finished == job.job.sequences.size()) {
      if (job.result.error) job.result.pooled.clear();
      complete(job);
      ++completed;
    }
  }
  std::lock_guard lock(mutex_);
  pending_ -= completed;
}

}  // namespace ember::serve
