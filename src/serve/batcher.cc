#include "serve/batcher.h"

#include <algorithm>

#include "serve/inline_gate.h"
#include "serve/metrics.h"

namespace ember::serve {

struct TokenBudgetBatcher::JobState {
  Job job;
  Clock::time_point enqueued;
  uint64_t order = 0;   // arrival
  size_t next = 0;      // first sequence not yet taken into a batch (scheduler only)
  size_t finished = 0;  // sequences whose rows are in result (scheduler only)
  int64_t served = 0;   // tokens taken into batches so far (scheduler only)
  int64_t tokens = 0;   // of all its sequences
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
  std::vector<Slice> slices;
  std::vector<std::shared_ptr<JobState>> expired;
  InlineGate* const gate = InlineGate::current();
  bool run_here = false;
  {
    std::lock_guard lock(mutex_);
    EMBER_CHECK(!stopping_, ErrorKind::kUnavailable, "the server is shutting down");
    EMBER_CHECK(queue_.size() < options_.max_queue, ErrorKind::kOverloaded, "the queue is full (",
                options_.max_queue, " requests waiting); retry later");
    const bool idle = options_.run_inline_when_idle && !computing_ && queue_.empty() &&
                      fits_one_batch(state->job);
    state->order = submitted_++;
    for (const auto& seq : state->job.sequences)
      state->tokens += static_cast<int64_t>(seq.ids.size());
    queue_.push_back(std::move(state));
    ++pending_;
    // The gate last: once it lets this thread in, the thread owes it a leave().
    run_here = idle && (gate == nullptr || gate->try_enter());
    if (run_here) {
      // The queue holds only this job and it fits: take_batch takes all of it (or drops it,
      // past its deadline or disconnected) exactly as the scheduler would.
      computing_ = true;
      slices = take_batch(expired);
    }
  }
  if (!run_here) {
    wake_.notify_one();  // queued for the scheduler
    return;
  }
  struct Leave {
    InlineGate* gate;
    ~Leave() {
      if (gate) gate->leave();
    }
  } leave{gate};
  execute(slices, expired);
}

bool TokenBudgetBatcher::fits_one_batch(const Job& job) const {
  if (job.sequences.size() == 1) return true;  // an over-budget sequence runs alone anyway
  if (static_cast<int64_t>(job.sequences.size()) > options_.max_batch_sequences) return false;
  int64_t tokens = 0;
  for (const auto& s : job.sequences) tokens += static_cast<int64_t>(s.ids.size());
  return tokens <= options_.max_batch_tokens;
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

size_t TokenBudgetBatcher::queued_inputs() const {
  std::lock_guard lock(mutex_);
  size_t inputs = 0;
  for (const auto& j : queue_) inputs += j->job.sequences.size() - j->next;
  return inputs;
}

size_t TokenBudgetBatcher::pending_jobs() const {
  std::lock_guard lock(mutex_);
  return pending_;
}

// Called only while no batch computes, so every slice taken before has finished. Drops the
// jobs that must not run further (deadline passed before start, client gone, failed already),
// then fills the batch from the jobs with the fewest tokens served (new jobs smallest first,
// then arrival order), while both budgets allow; the first sequence is always taken, so an
// over-budget sequence still runs (alone). A batch that starts with a new job (nothing served
// yet) takes only other new jobs that fit in it whole: a small request's batch is not filled
// up with the slices of large ones, which would make it last as long as theirs.
std::vector<TokenBudgetBatcher::Slice> TokenBudgetBatcher::take_batch(
    std::vector<std::shared_ptr<JobState>>& expired) {
  const auto now = Clock::now();
  std::erase_if(queue_, [&](std::shared_ptr<JobState>& job) {
    const bool gone = job->job.client_gone && job->job.client_gone->load();
    const bool late = !job->started && job->job.deadline < now;
    if (!gone && !late && !job->result.error) return false;
    if (job->result.error) {
      // An earlier batch failed it: the rest of it is not computed.
    } else if (gone) {
      if (!job->started) ++dropped_disconnected_;
      job->result.error = Error(ErrorKind::kUnavailable, "the client disconnected");
    } else {
      ++dropped_deadline_;
      job->result.error = Error(ErrorKind::kOverloaded,
                                "the request waited past its deadline in the queue "
                                "(--request-timeout-ms) before compute; retry later");
    }
    expired.push_back(std::move(job));
    return true;
  });

  std::vector<std::shared_ptr<JobState>> order(queue_.begin(), queue_.end());
  // Least served first; among new jobs the smallest first; then arrival.
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    if (a->served != b->served) return a->served < b->served;
    if (a->served == 0 && a->tokens != b->tokens) return a->tokens < b->tokens;
    return a->order < b->order;
  });

  std::vector<Slice> slices;
  int64_t tokens = 0, sequences = 0;
  const bool new_head = !order.empty() && order.front()->served == 0;
  for (size_t k = 0; k < order.size(); ++k) {
    auto& job = order[k];
    if (k > 0 && new_head) {
      if (job->served > 0) break;  // sorted: every job from here on has been served
      const auto count = static_cast<int64_t>(job->job.sequences.size());
      if (sequences + count > options_.max_batch_sequences ||
          tokens + job->tokens > options_.max_batch_tokens)
        continue;  // it waits to start a batch of its own
    }
    Slice slice{job, job->next, 0};
    while (job->next < job->job.sequences.size() && sequences < options_.max_batch_sequences) {
      const auto len = static_cast<int64_t>(job->job.sequences[job->next].ids.size());
      if (sequences > 0 && tokens + len > options_.max_batch_tokens) break;
      tokens += len;
      job->served += len;
      ++sequences;
      ++job->next;
      ++slice.count;
    }
    if (slice.count > 0) {
      if (!job->started) job->result.queue_ms = ms_between(job->enqueued, now);
      job->started = true;
      slices.push_back(slice);
    }
    if (job->next < job->job.sequences.size()) break;  // budget full before this job's end
  }
  std::erase_if(queue_, [](const std::shared_ptr<JobState>& job) {
    return job->next == job->job.sequences.size();
  });
  return slices;
}

void TokenBudgetBatcher::schedule_loop() {
  for (;;) {
    std::vector<Slice> slices;
    std::vector<std::shared_ptr<JobState>> expired;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return !computing_ && (stopping_ || !queue_.empty()); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      computing_ = true;
      slices = take_batch(expired);
    }
    execute(slices, expired);
  }
}

// pending_ drops before a job's completion runs, so a caller that has its result never
// counts its own job as pending.
void TokenBudgetBatcher::execute(const std::vector<Slice>& slices,
                                 std::vector<std::shared_ptr<JobState>>& expired) {
  if (!expired.empty()) {
    std::lock_guard lock(mutex_);
    pending_ -= expired.size();
  }
  for (auto& job : expired) {
    job->result.pooled.clear();
    job->result.hidden.clear();
    job->result.seq_logits.clear();
    job->result.sparse.clear();
    complete(*job);
  }
  if (!slices.empty()) run_batch(slices);
  bool more;
  {
    std::lock_guard lock(mutex_);
    computing_ = false;
    more = !queue_.empty() || stopping_;
  }
  // Only when there is something to do: an idle scheduler is not woken after an inline batch.
  if (more) wake_.notify_one();
}

namespace {

// kInternal unless the engine returned every output the batch asked for.
void check_result(const ember::Outputs& out, const ember::Batch& batch, unsigned outputs) {
  const auto n = static_cast<size_t>(batch.size());
  const auto h = static_cast<size_t>(out.hidden_size);
  EMBER_CHECK(h > 0, ErrorKind::kInternal, "the engine returned no hidden size");
  if (outputs & ember::kPooled)
    EMBER_CHECK(out.pooled.size() == n * h, ErrorKind::kInternal, "the engine returned ",
                out.pooled.size(), " pooled values for ", n, " sequences");
  if (outputs & ember::kHidden)
    EMBER_CHECK(out.hidden.size() == static_cast<size_t>(batch.num_tokens()) * h,
                ErrorKind::kInternal, "the engine returned ", out.hidden.size(),
                " hidden values for ", batch.num_tokens(), " tokens");
  if (outputs & ember::kSeqLogits)
    EMBER_CHECK(
        out.num_labels > 0 && out.seq_logits.size() == n * static_cast<size_t>(out.num_labels),
        ErrorKind::kInternal, "the engine returned ", out.seq_logits.size(), " logits for ", n,
        " sequences");
  if (outputs & ember::kSparse)
    EMBER_CHECK(out.vocab_size > 0 && out.sparse.size() == n * static_cast<size_t>(out.vocab_size),
                ErrorKind::kInternal, "the engine returned ", out.sparse.size(),
                " sparse values for ", n, " sequences");
}

}  // namespace

// Copies rows [row, row + s.count) of the batch's outputs into the job's own rows.
void TokenBudgetBatcher::copy_rows(const Slice& s, const ember::Outputs& out,
                                   const ember::Batch& batch, size_t row) {
  JobResult& r = s.job->result;
  const size_t total = s.job->job.sequences.size();
  const unsigned want = s.job->job.outputs;
  const auto h = out.hidden_size;
  r.hidden_size = h;
  if (want & ember::kPooled) {
    r.pooled.resize(total * h);
    std::copy_n(out.pooled.data() + row * h, s.count * h, r.pooled.data() + s.first * h);
  }
  if (want & ember::kHidden) {
    r.hidden.resize(total);
    for (size_t i = 0; i < s.count; ++i) {
      const auto b = static_cast<int64_t>(row + i);
      const float* src = out.hidden.data() + batch.begin(b) * h;
      r.hidden[s.first + i].assign(src, src + batch.length(b) * h);
    }
  }
  if (want & ember::kSeqLogits) {
    const auto c = out.num_labels;
    r.num_labels = c;
    r.seq_logits.resize(total * c);
    std::copy_n(out.seq_logits.data() + row * c, s.count * c, r.seq_logits.data() + s.first * c);
  }
  if (want & ember::kSparse) {
    r.sparse.resize(total);
    const auto v = out.vocab_size;
    for (size_t i = 0; i < s.count; ++i) {
      const float* src = out.sparse.data() + (row + i) * v;
      auto& dst = r.sparse[s.first + i];
      dst.clear();
      for (int64_t k = 0; k < v; ++k)
        if (src[k] != 0.0f) {
          dst.push_back(static_cast<float>(k));  // exact: vocabularies are below 2^24
          dst.push_back(src[k]);
        }
    }
  }
}

void TokenBudgetBatcher::run_isolated(std::span<const Slice> slices) {
  ember::Batch batch;
  unsigned outputs = 0;
  for (const auto& s : slices) {
    outputs |= s.job->job.outputs;
    for (size_t i = s.first; i < s.first + s.count; ++i) {
      const auto& seq = s.job->job.sequences[i];
      batch.add(seq.ids.data(), seq.ids.size(),
                seq.type_ids.empty() ? nullptr : seq.type_ids.data());
    }
  }
  const auto start = Clock::now();
  std::optional<Error> error;
  ember::Outputs out;
  try {
    out = run_(batch, outputs);
    check_result(out, batch, outputs);
  } catch (const Error& e) {
    error = e;
  } catch (const std::bad_alloc&) {
    error = Error(ErrorKind::kOverloaded, "out of memory while computing the batch");
  } catch (const std::exception& e) {
    error = Error(ErrorKind::kInternal, e.what());
  }
  const double ms = ms_between(start, Clock::now());
  if (metrics_)
    metrics_->observe_batch(batch.size(), batch.num_tokens(), ms / 1000.0, options_.metrics_label);
  for (const auto& s : slices) s.job->result.inference_ms += ms;
  if (!error) {
    size_t row = 0;
    for (const auto& s : slices) {
      if (!s.job->result.error) copy_rows(s, out, batch, row);
      row += s.count;
    }
    return;
  }
  if (slices.size() == 1) {
    if (!slices[0].job->result.error) slices[0].job->result.error = std::move(error);
    return;
  }
  // Which job failed it is not known: each half again, until the failing job runs alone.
  ++isolation_reruns_;
  out = {};
  const size_t half = slices.size() / 2;
  run_isolated(slices.first(half));
  run_isolated(slices.subspan(half));
}

void TokenBudgetBatcher::run_batch(const std::vector<Slice>& slices) {
  run_isolated(slices);
  std::vector<JobState*> finished;
  for (const auto& s : slices) {
    JobState& job = *s.job;
    job.finished += s.count;
    // A failed job with sequences still queued is completed by take_batch, which drops them.
    if (job.finished == job.job.sequences.size()) {
      if (job.result.error) {
        job.result.pooled.clear();
        job.result.hidden.clear();
        job.result.seq_logits.clear();
        job.result.sparse.clear();
      }
      finished.push_back(&job);
    }
  }
  if (finished.empty()) return;
  {
    std::lock_guard lock(mutex_);
    pending_ -= finished.size();
  }
  for (JobState* job : finished) complete(*job);
}

}  // namespace ember::serve
