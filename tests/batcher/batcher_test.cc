// TokenBudgetBatcher alone, with a stand-in compute whose output identifies each sequence
// (pooled row = [first id, length]), so routing and packing are checked exactly.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "serve/batcher.h"
#include "serve/inline_gate.h"

namespace ember::serve {
namespace {

// Records every batch it runs; can hold the scheduler inside run() until released, so
// tests can queue jobs deterministically behind a running batch.
struct FakeEngine {
  std::mutex mutex;
  std::condition_variable cv;
  bool hold = false, holding = false;
  std::vector<std::vector<int64_t>> batches;  // sequence lengths per batch
  std::vector<std::thread::id> threads;       // the thread that ran each batch

  ember::Outputs run(const ember::Batch& b) {
    std::unique_lock lock(mutex);
    std::vector<int64_t> lens;
    for (int64_t s = 0; s < b.size(); ++s) lens.push_back(b.length(s));
    batches.push_back(lens);
    threads.push_back(std::this_thread::get_id());
    holding = true;
    cv.notify_all();
    cv.wait(lock, [&] { return !hold; });
    holding = false;
    ember::Outputs r;
    r.hidden_size = 2;
    for (int64_t s = 0; s < b.size(); ++s) {
      r.pooled.push_back(static_cast<float>(b.ids()[b.begin(s)]));
      r.pooled.push_back(static_cast<float>(b.length(s)));
    }
    return r;
  }
  void wait_until_holding() {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return holding; });
  }
  void release() {
    std::lock_guard lock(mutex);
    hold = false;
    cv.notify_all();
  }
};

Sequence seq(int32_t first_id, size_t len) {
  Sequence s;
  s.ids.assign(len, first_id);
  return s;
}

std::future<JobResult> submit(TokenBudgetBatcher& b, std::vector<Sequence> seqs,
                              Clock::time_point deadline = Clock::time_point::max()) {
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto future = promise->get_future();
  Job job;
  job.sequences = std::move(seqs);
  job.deadline = deadline;
  job.done = [promise](JobResult r) { promise->set_value(std::move(r)); };
  b.submit(std::move(job));
  return future;
}

class BatcherTest : public ::testing::Test {
 protected:
  FakeEngine fake;
  std::unique_ptr<TokenBudgetBatcher> make(int64_t tokens, int64_t sequences, size_t queue) {
    return std::make_unique<TokenBudgetBatcher>(
        BatcherOptions{tokens, sequences, queue},
        [this](const ember::Batch& b, unsigned) { return fake.run(b); });
  }
  // Occupies the scheduler with one job, so the following submissions queue up.
  std::future<JobResult> block(TokenBudgetBatcher& b) {
    fake.hold = true;
    auto f = submit(b, {seq(999, 1)});
    fake.wait_until_holding();
    return f;
  }
};

TEST_F(BatcherTest, PacksQueuedRequestsUnderTheTokenBudget) {
  auto b = make(/*tokens=*/10, /*sequences=*/64, /*queue=*/16);
  auto first = block(*b);
  std::vector<std::future<JobResult>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(submit(*b, {seq(i, 4)}));  // 4 tokens each
  fake.release();
  for (auto& f : fs) ASSERT_FALSE(f.get().error);
  ASSERT_FALSE(first.get().error);
  // 4+4 fits in 10, a third would not: batches of 2, 2, 1 after the blocking one.
  const std::vector<std::vector<int64_t>> want = {{1}, {4, 4}, {4, 4}, {4}};
  EXPECT_EQ(fake.batches, want);
}

TEST_F(BatcherTest, RespectsTheSequenceLimitAndSplitsALargeRequest) {
  auto b = make(/*tokens=*/1000, /*sequences=*/3, /*queue=*/16);
  auto first = block(*b);
  auto big = submit(*b, {seq(10, 1), seq(11, 2), seq(12, 3), seq(13, 4), seq(14, 5)});
  auto small = submit(*b, {seq(20, 6)});
  fake.release();
  const auto r = big.get();
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.hidden_size, 2);
  // The big request's rows come back in its own order although it ran in two batches.
  const std::vector<float> want = {10, 1, 11, 2, 12, 3, 13, 4, 14, 5};
  EXPECT_EQ(r.pooled, want);
  EXPECT_EQ(small.get().pooled, (std::vector<float>{20, 6}));
  // The small request (the smaller of two new ones) runs first, in a batch of its own (not
  // filled up with the big one's slices).
  const std::vector<std::vector<int64_t>> batches = {{1}, {6}, {1, 2, 3}, {4, 5}};
  EXPECT_EQ(fake.batches, batches);
  first.get();
}

TEST_F(BatcherTest, AnOverBudgetSequenceRunsAlone) {
  auto b = make(/*tokens=*/4, /*sequences=*/8, /*queue=*/4);
  auto r = submit(*b, {seq(7, 9)}).get();
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.pooled, (std::vector<float>{7, 9}));
}

TEST_F(BatcherTest, FullQueueIsOverloaded) {
  auto b = make(100, 8, /*queue=*/2);
  auto first = block(*b);
  auto a = submit(*b, {seq(1, 1)});
  auto c = submit(*b, {seq(2, 1)});
  try {
    submit(*b, {seq(3, 1)});
    FAIL() << "a third queued request must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOverloaded);
  }
  EXPECT_EQ(b->queue_depth(), 2u);
  fake.release();
  EXPECT_FALSE(a.get().error);
  EXPECT_FALSE(c.get().error);
  first.get();
}

TEST_F(BatcherTest, DropsARequestWhoseDeadlinePassedBeforeCompute) {
  auto b = make(100, 8, 8);
  auto first = block(*b);
  auto late = submit(*b, {seq(1, 3)}, Clock::now() - std::chrono::milliseconds(1));
  auto fine = submit(*b, {seq(2, 3)});
  fake.release();
  const auto r = late.get();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::kOverloaded);
  EXPECT_TRUE(r.pooled.empty());
  EXPECT_EQ(fine.get().pooled, (std::vector<float>{2, 3}));
  first.get();
  // The dropped request never reached the engine.
  const std::vector<std::vector<int64_t>> want = {{1}, {3}};
  EXPECT_EQ(fake.batches, want);
}

// A cut drain (or a client that left) marks the job's client gone while its first batch
// computes: the rest of it is never computed, and it is answered with the error.
TEST_F(BatcherTest, AStartedJobWhoseClientLeftIsNotContinued) {
  auto b = make(/*tokens=*/1000, /*sequences=*/2, /*queue=*/8);
  fake.hold = true;
  auto gone = std::make_shared<std::atomic<bool>>(false);
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto future = promise->get_future();
  Job job;
  job.sequences = {seq(1, 3), seq(2, 3), seq(3, 3), seq(4, 3), seq(5, 3)};  // three batches
  job.client_gone = gone;
  job.done = [promise](JobResult r) { promise->set_value(std::move(r)); };
  b->submit(std::move(job));
  fake.wait_until_holding();
  gone->store(true);
  fake.release();
  const auto r = future.get();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::kUnavailable);
  EXPECT_TRUE(r.pooled.empty());
  EXPECT_EQ(fake.batches, (std::vector<std::vector<int64_t>>{{3, 3}}));
  EXPECT_EQ(b->dropped_disconnected(), 0u);  // it ran in part: not counted as never run
}

TEST_F(BatcherTest, ResultsGoToTheRightRequestUnderConcurrency) {
  auto b = make(64, 16, 512);
  std::vector<std::future<JobResult>> fs;
  std::vector<std::thread> threads;
  std::mutex m;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const int id = t * 100 + i;
        auto f = submit(*b, {seq(id, 1 + id % 7), seq(id + 50, 2 + id % 5)});
        std::lock_guard lock(m);
        fs.push_back(std::move(f));
      }
    });
  for (auto& th : threads) th.join();
  size_t checked = 0;
  for (auto& f : fs) {
    const auto r = f.get();
    ASSERT_FALSE(r.error);
    ASSERT_EQ(r.pooled.size(), 4u);
    const int id = static_cast<int>(r.pooled[0]);
    EXPECT_EQ(r.pooled[1], 1 + id % 7);
    EXPECT_EQ(r.pooled[2], id + 50);
    EXPECT_EQ(r.pooled[3], 2 + id % 5);
    ++checked;
  }
  EXPECT_EQ(checked, 200u);
  EXPECT_EQ(b->pending_jobs(), 0u);
}

TEST_F(BatcherTest, AnEngineErrorFailsOnlyItsBatchAndStopDrains) {
  int calls = 0;
  TokenBudgetBatcher b(BatcherOptions{100, 8, 8}, [&](const ember::Batch& batch, unsigned) {
    if (calls++ == 0) fail(ErrorKind::kInternal, "boom");
    return fake.run(batch);
  });
  auto bad = submit(b, {seq(1, 2)});
  const auto r = bad.get();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::kInternal);
  auto good = submit(b, {seq(2, 2)});
  b.stop();  // finishes what was queued
  EXPECT_EQ(good.get().pooled, (std::vector<float>{2, 2}));
  try {
    submit(b, {seq(3, 1)});
    FAIL() << "submit after stop must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
  }
}

// Fair queueing: a small request that arrives behind large ones goes into the next batch,
// ahead of whatever the large ones still have to compute; the large ones take turns.
TEST_F(BatcherTest, ASmallRequestDoesNotWaitBehindLargeOnes) {
  auto b = make(/*tokens=*/8, /*sequences=*/64, /*queue=*/16);
  auto first = block(*b);
  std::vector<Sequence> big1, big2;
  for (int i = 0; i < 4; ++i) big1.push_back(seq(100 + i, 4));  // 16 tokens: two batches
  for (int i = 0; i < 4; ++i) big2.push_back(seq(200 + i, 4));
  auto a = submit(*b, big1);
  auto c = submit(*b, big2);
  auto small = submit(*b, {seq(7, 2)});
  fake.release();
  ASSERT_FALSE(a.get().error);
  ASSERT_FALSE(c.get().error);
  EXPECT_EQ(small.get().pooled, (std::vector<float>{7, 2}));
  first.get();
  // After the blocking batch: the small one (the smallest new job) alone, then half of big1
  // (arrived first), half of big2, then the rest of each in turn. FIFO would have put the
  // small one last.
  const std::vector<std::vector<int64_t>> want = {{1}, {2}, {4, 4}, {4, 4}, {4, 4}, {4, 4}};
  EXPECT_EQ(fake.batches, want);
}

// Isolation: a request whose input makes the engine fail fails alone; every request packed
// into the same batch gets its own result, computed again without it.
TEST(BatcherIsolation, AFailingRequestFailsAloneAndTheOthersAreRecomputed) {
  std::mutex m;
  std::condition_variable cv;
  bool go = false, entered = false;
  int runs = 0;
  TokenBudgetBatcher b(BatcherOptions{1000, 64, 64}, [&](const ember::Batch& batch, unsigned) {
    {
      std::unique_lock lock(m);
      ++runs;
      entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return go; });
    }
    ember::Outputs r;
    r.hidden_size = 1;
    for (int64_t s = 0; s < batch.size(); ++s) {
      const auto id = batch.ids()[batch.begin(s)];
      if (id == 666) fail(ErrorKind::kInvalidInput, "token id 666 is out of the vocabulary");
      r.pooled.push_back(static_cast<float>(id));
    }
    return r;
  });
  auto submit_one = [&](int32_t id) {
    auto promise = std::make_shared<std::promise<JobResult>>();
    auto future = promise->get_future();
    Job job;
    job.sequences = {seq(id, 3), seq(id + 1, 2)};
    job.done = [promise](JobResult r) { promise->set_value(std::move(r)); };
    b.submit(std::move(job));
    return future;
  };
  auto first = submit_one(1);  // holds the scheduler while the others queue
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return entered; });
  }
  std::vector<std::future<JobResult>> innocent;
  for (int i = 0; i < 5; ++i) innocent.push_back(submit_one(10 * (i + 1)));
  auto bad = submit_one(665);  // its second sequence is 666
  for (int i = 5; i < 9; ++i) innocent.push_back(submit_one(10 * (i + 1)));
  {
    std::lock_guard lock(m);
    go = true;
  }
  cv.notify_all();
  EXPECT_EQ(first.get().pooled, (std::vector<float>{1, 2}));
  const auto r = bad.get();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::kInvalidInput);
  EXPECT_TRUE(r.pooled.empty());
  for (size_t i = 0; i < innocent.size(); ++i) {
    const auto got = innocent[i].get();
    ASSERT_FALSE(got.error) << "request " << i << ": " << got.error->what();
    const auto id = static_cast<float>(10 * (i + 1));
    EXPECT_EQ(got.pooled, (std::vector<float>{id, id + 1}));
  }
  EXPECT_GE(b.isolation_reruns(), 1u);
  // One batch of 10 jobs: the failing one is found by halving, not by running each alone.
  EXPECT_LE(runs, 1 + 1 + 2 * 4);
  b.stop();
}

// A job whose client leaves while its first batch computes gets no further batch.
TEST(BatcherGone, AStartedJobWhoseClientIsGoneIsNotComputedFurther) {
  auto gone = std::make_shared<std::atomic<bool>>(false);
  std::atomic<int> runs{0};
  TokenBudgetBatcher b(BatcherOptions{4, 64, 16}, [&](const ember::Batch& batch, unsigned) {
    ++runs;
    gone->store(true);  // the client leaves during the first batch
    ember::Outputs r;
    r.hidden_size = 1;
    r.pooled.assign(static_cast<size_t>(batch.size()), 1.0f);
    return r;
  });
  auto promise = std::make_shared<std::promise<JobResult>>();
  auto future = promise->get_future();
  Job job;
  for (int i = 0; i < 4; ++i) job.sequences.push_back(seq(50 + i, 4));  // one batch each
  job.client_gone = gone;
  job.done = [promise](JobResult r) { promise->set_value(std::move(r)); };
  b.submit(std::move(job));
  const auto r = future.get();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::kUnavailable);
  EXPECT_TRUE(r.pooled.empty());
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(b.pending_jobs(), 0u);
}

// Jobs that need different outputs share a batch: the engine is asked for the union, and
// each job gets its own rows of what it asked for (hidden rows follow the token offsets).
TEST(BatcherOutputs, TheBatchAsksForTheUnionAndEachJobGetsItsRows) {
  std::vector<unsigned> asked;
  std::mutex m;
  std::condition_variable cv;
  bool go = false, entered = false;
  TokenBudgetBatcher b(BatcherOptions{100, 8, 8}, [&](const ember::Batch& batch, unsigned out) {
    std::unique_lock lock(m);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return go; });
    asked.push_back(out);
    ember::Outputs r;
    r.hidden_size = 1;
    r.num_labels = 2;
    for (int64_t s = 0; s < batch.size(); ++s) {
      const auto first = static_cast<float>(batch.ids()[batch.begin(s)]);
      r.pooled.push_back(first);
      r.seq_logits.insert(r.seq_logits.end(), {first, -first});
    }
    for (int64_t t = 0; t < batch.num_tokens(); ++t)
      r.hidden.push_back(static_cast<float>(batch.ids()[t]) + 0.5f);
    return r;
  });
  auto submit_with = [&](std::vector<Sequence> seqs, unsigned outputs) {
    auto promise = std::make_shared<std::promise<JobResult>>();
    auto future = promise->get_future();
    Job job;
    job.sequences = std::move(seqs);
    job.outputs = outputs;
    job.done = [promise](JobResult r) { promise->set_value(std::move(r)); };
    b.submit(std::move(job));
    return future;
  };
  auto first = submit_with({seq(7, 1)}, ember::kPooled);  // runs alone, holds the scheduler
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return entered; });
  }
  auto a = submit_with({seq(1, 2), seq(2, 3)}, ember::kHidden);
  auto c = submit_with({seq(3, 1)}, ember::kSeqLogits);
  {
    std::lock_guard lock(m);
    go = true;
  }
  cv.notify_all();
  EXPECT_EQ(first.get().pooled, (std::vector<float>{7}));
  const auto ra = a.get();
  ASSERT_FALSE(ra.error);
  ASSERT_EQ(ra.hidden.size(), 2u);
  EXPECT_EQ(ra.hidden[0], (std::vector<float>{1.5f, 1.5f}));
  EXPECT_EQ(ra.hidden[1], (std::vector<float>{2.5f, 2.5f, 2.5f}));
  EXPECT_TRUE(ra.pooled.empty());
  const auto rc = c.get();
  EXPECT_EQ(rc.seq_logits, (std::vector<float>{3, -3}));
  EXPECT_EQ(rc.num_labels, 2);
  b.stop();
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0], unsigned(ember::kPooled));
  EXPECT_EQ(asked.back(), unsigned(ember::kHidden | ember::kSeqLogits));
}

}  // namespace
}  // namespace ember::serve

namespace ember::serve {
namespace {

// run_inline_when_idle: a job that finds the batcher idle runs on the submitting thread and
// is done before submit returns; jobs that arrive while it computes are queued and packed
// together by the scheduler afterwards, as without the option.
class InlineBatcherTest : public ::testing::Test {
 protected:
  FakeEngine fake;
  std::unique_ptr<TokenBudgetBatcher> make(int64_t tokens, int64_t sequences, size_t queue) {
    BatcherOptions o{tokens, sequences, queue};
    o.run_inline_when_idle = true;
    return std::make_unique<TokenBudgetBatcher>(
        o, [this](const ember::Batch& b, unsigned) { return fake.run(b); });
  }
};

TEST_F(InlineBatcherTest, ALoneJobRunsOnTheSubmittingThreadBeforeSubmitReturns) {
  auto b = make(100, 8, 4);
  auto f = submit(*b, {seq(5, 3), seq(6, 2)});
  ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(f.get().pooled, (std::vector<float>{5, 3, 6, 2}));
  ASSERT_EQ(fake.threads.size(), 1u);
  EXPECT_EQ(fake.threads[0], std::this_thread::get_id());
  EXPECT_EQ(b->pending_jobs(), 0u);
}

TEST_F(InlineBatcherTest, JobsArrivingMeanwhileAreQueuedAndPackedByTheScheduler) {
  auto b = make(/*tokens=*/100, /*sequences=*/8, /*queue=*/3);
  fake.hold = true;
  std::future<JobResult> first;
  std::thread submitter([&] { first = submit(*b, {seq(1, 1)}); });  // computes inline, held
  fake.wait_until_holding();
  std::vector<std::future<JobResult>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(submit(*b, {seq(10 + i, 4)}));  // not inline: busy
  EXPECT_EQ(b->queue_depth(), 3u);
  try {
    submit(*b, {seq(20, 1)});
    FAIL() << "the queue is full";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOverloaded);
  }
  const auto submitter_id = submitter.get_id();
  fake.release();
  submitter.join();
  EXPECT_EQ(first.get().pooled, (std::vector<float>{1, 1}));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fs[i].get().pooled, (std::vector<float>{10.f + i, 4}));
  const std::vector<std::vector<int64_t>> want = {{1}, {4, 4, 4}};  // one batch of the three
  EXPECT_EQ(fake.batches, want);
  ASSERT_EQ(fake.threads.size(), 2u);
  EXPECT_EQ(fake.threads[0], submitter_id);
  EXPECT_NE(fake.threads[1], submitter_id);  // the scheduler
  EXPECT_NE(fake.threads[1], std::this_thread::get_id());
}

TEST_F(InlineBatcherTest, AJobLargerThanOneBatchGoesToTheSchedulerAndALateOneIsDropped) {
  auto b = make(/*tokens=*/4, /*sequences=*/8, /*queue=*/4);
  auto big = submit(*b, {seq(1, 3), seq(2, 3)});  // 6 tokens > 4: split over two batches
  EXPECT_EQ(big.get().pooled, (std::vector<float>{1, 3, 2, 3}));
  ASSERT_EQ(fake.threads.size(), 2u);
  EXPECT_NE(fake.threads[0], std::this_thread::get_id());
  auto late = submit(*b, {seq(3, 1)}, Clock::now() - std::chrono::milliseconds(1));
  const auto r = late.get();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::kOverloaded);
  EXPECT_EQ(fake.batches.size(), 2u);  // never computed
  b->stop();
  EXPECT_EQ(b->pending_jobs(), 0u);
}

// The submitting thread's InlineGate decides: let in, an idle-batcher job runs inline and the
// gate is left exactly once, after the batch; refused, the job goes to the scheduler. Each
// case starts from an idle batcher (an inline job is done when submit returns; the refused
// case gets a fresh batcher, since a scheduler's batch ends after its completion runs).
struct CountingGate final : InlineGate {
  bool open = true;
  int asked = 0, left = 0;
  bool try_enter() noexcept override {
    ++asked;
    return open;
  }
  void leave() noexcept override { ++left; }
};

TEST_F(InlineBatcherTest, TheThreadsGateDecidesWhetherAnIdleJobRunsInline) {
  CountingGate gate;
  InlineGate::set_current(&gate);
  {
    auto b = make(100, 8, 4);
    auto f = submit(*b, {seq(8, 1)});
    ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    EXPECT_EQ(f.get().pooled, (std::vector<float>{8, 1}));
    ASSERT_EQ(fake.threads.size(), 1u);
    EXPECT_EQ(fake.threads[0], std::this_thread::get_id());
    EXPECT_EQ(gate.asked, 1);
    EXPECT_EQ(gate.left, 1);
    // A job that cannot run inline anyway (larger than one batch) does not ask the gate.
    EXPECT_EQ(submit(*b, {seq(9, 60), seq(9, 60)}).get().pooled,
              (std::vector<float>{9, 60, 9, 60}));
    EXPECT_EQ(gate.asked, 1);
  }
  {
    auto b = make(100, 8, 4);
    gate.open = false;
    EXPECT_EQ(submit(*b, {seq(7, 2)}).get().pooled, (std::vector<float>{7, 2}));
    EXPECT_EQ(gate.asked, 2);
    EXPECT_EQ(gate.left, 1);                                     // refused: nothing to leave
    EXPECT_NE(fake.threads.back(), std::this_thread::get_id());  // the scheduler
  }
  InlineGate::set_current(nullptr);
}

}  // namespace
}  // namespace ember::serve
