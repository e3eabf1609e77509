// The model registry with real models (the tiny fixtures): lazy loads, least-recently-used
// unloading under a budget, pins and leases that keep models loaded, typed refusals, and
// concurrent acquires of a loading model. The budget is charged a cost computed from each
// model's own parameter count, so that the tests do not depend on this process's RSS.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "core/error.h"
#include "serve/model_registry.h"

namespace ember::serve {
namespace {

using std::chrono::milliseconds;
const std::string kModels = std::string(EMBER_SOURCE_DIR) + "/tests/fixtures/models/";
constexpr auto kWait = std::chrono::seconds(60);

// Bytes charged per model: its fp32 parameters.
int64_t parameter_bytes(const ember::Model& m, int64_t) {
  return m.info().parameters * 4;
}

std::vector<ModelSource> three_models(bool pin_first = false) {
  std::vector<ModelSource> s = {{"seqcls", kModels + "tiny-bert-seqcls", {}, pin_first},
                                {"roberta", kModels + "tiny-roberta", {}, false},
                                {"distil", kModels + "tiny-distilbert", {}, false}};
  for (auto& m : s) m.options.threads = 1;
  return s;
}

int64_t cost_of(const std::string& dir) {
  ember::LoadOptions o;
  o.threads = 1;
  return parameter_bytes(ember::Model::load(kModels + dir, o), 0);
}

const ModelStatus& status(const std::vector<ModelStatus>& all, const std::string& name) {
  for (const auto& s : all)
    if (s.name == name) return s;
  throw std::runtime_error("no status for " + name);
}

TEST(ModelRegistry, LoadsOnFirstUseAndAnswersLikeTheModelAlone) {
  ModelRegistry r({0, parameter_bytes}, three_models());
  for (const auto& s : r.list()) EXPECT_EQ(s.state, ModelState::kUnloaded) << s.name;
  const auto lease = r.acquire("roberta", kWait);
  EXPECT_EQ(lease.name(), "roberta");
  EXPECT_EQ(status(r.list(), "roberta").state, ModelState::kLoaded);
  EXPECT_EQ(status(r.list(), "seqcls").state, ModelState::kUnloaded);
  ember::LoadOptions o;
  o.threads = 1;
  const auto alone = ember::Model::load(kModels + "tiny-roberta", o);
  EXPECT_EQ(lease.model().embed({"the same answer"}), alone.embed({"the same answer"}));
  EXPECT_EQ(r.loaded_bytes(), alone.info().parameters * 4);
  // A second acquire gets the same loaded model, not a second load.
  const auto again = r.acquire("roberta", kWait);
  EXPECT_EQ(&again.model(), &lease.model());
  EXPECT_EQ(status(r.list(), "roberta").loads, 1);
  EXPECT_EQ(status(r.list(), "roberta").leases, 2);
}

TEST(ModelRegistry, LeastRecentlyUsedIdleModelIsUnloadedToMakeRoom) {
  const int64_t budget = cost_of("tiny-bert-seqcls") + cost_of("tiny-roberta") +
                         cost_of("tiny-distilbert") - 1;  // two fit, never all three
  ModelRegistry r({budget, parameter_bytes}, three_models());
  r.acquire("seqcls", kWait);
  r.acquire("roberta", kWait);
  r.acquire("seqcls", kWait);  // seqcls is now the more recently used
  r.acquire("distil", kWait);  // evicts roberta
  const auto all = r.list();
  EXPECT_EQ(status(all, "roberta").state, ModelState::kUnloaded);
  EXPECT_EQ(status(all, "roberta").unloads, 1);
  EXPECT_EQ(status(all, "seqcls").state, ModelState::kLoaded);
  EXPECT_EQ(status(all, "distil").state, ModelState::kLoaded);
  EXPECT_LE(r.loaded_bytes(), budget);
  // It comes back on demand, at the expense of the least recently used again (seqcls).
  const auto back = r.acquire("roberta", kWait);
  EXPECT_EQ(status(r.list(), "seqcls").state, ModelState::kUnloaded);
  EXPECT_EQ(status(r.list(), "roberta").loads, 2);
}

TEST(ModelRegistry, PinnedAndLeasedModelsStayAndAModelThatCannotFitIsRefused) {
  const int64_t budget =
      cost_of("tiny-bert-seqcls") + cost_of("tiny-roberta") + cost_of("tiny-distilbert") - 1;
  ModelRegistry r({budget, parameter_bytes}, three_models(/*pin_first=*/true));
  r.acquire("seqcls", kWait);               // pinned
  auto held = r.acquire("roberta", kWait);  // a request in flight
  try {
    r.acquire("distil", kWait);
    FAIL() << "distil cannot fit beside a pinned and a leased model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOverloaded);
    EXPECT_NE(std::string(e.what()).find("in use or pinned"), std::string::npos) << e.what();
  }
  EXPECT_EQ(status(r.list(), "seqcls").state, ModelState::kLoaded);
  EXPECT_EQ(status(r.list(), "roberta").state, ModelState::kLoaded);
  EXPECT_FALSE(r.unload("roberta"));  // leased
  // Once the request is done, the same acquire succeeds: roberta is unloaded for it.
  { const auto done = std::move(held); }
  const auto distil = r.acquire("distil", kWait);
  EXPECT_EQ(status(r.list(), "roberta").state, ModelState::kUnloaded);
  EXPECT_EQ(status(r.list(), "seqcls").state, ModelState::kLoaded);
}

TEST(ModelRegistry, TypedErrorsForUnknownTooLargeAndBrokenModels) {
  auto sources = three_models();
  sources.push_back({"broken", kModels + "no-such-directory", {}, false});
  ModelRegistry r({cost_of("tiny-roberta") - 1, parameter_bytes}, sources);
  try {
    r.acquire("nobody", kWait);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
  try {
    r.acquire("roberta", kWait);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOverloaded);
    EXPECT_NE(std::string(e.what()).find("--memory-budget"), std::string::npos) << e.what();
  }
  EXPECT_THROW(r.acquire("broken", kWait), Error);
  EXPECT_EQ(status(r.list(), "broken").state, ModelState::kFailed);
  EXPECT_EQ(r.loaded_bytes(), 0);
  EXPECT_THROW(ModelRegistry({0, parameter_bytes}, {}), Error);
  auto twice = three_models();
  twice[1].name = "seqcls";
  EXPECT_THROW(ModelRegistry({0, parameter_bytes}, twice), Error);
}

TEST(ModelRegistry, AcquireWithoutWaitingSaysLoadingThenEveryoneGetsOneLoad) {
  ModelRegistry r({0, parameter_bytes}, three_models());
  try {
    r.acquire("distil", milliseconds(0));
    // A load this fast is possible; then it is simply loaded.
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("loading"), std::string::npos);
  }
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      if (r.acquire("distil", kWait).model().info().hidden_size > 0) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(status(r.list(), "distil").loads, 1);
}

TEST(ModelRegistry, PreloadLoadsEveryModelAndUnloadFreesIdleOnes) {
  ModelRegistry r({0, parameter_bytes}, three_models());
  r.preload();
  for (const auto& s : r.list()) EXPECT_EQ(s.state, ModelState::kLoaded) << s.name;
  EXPECT_TRUE(r.unload("distil"));
  EXPECT_EQ(status(r.list(), "distil").state, ModelState::kUnloaded);
  EXPECT_TRUE(r.unload("distil"));  // already unloaded: nothing to do
  EXPECT_THROW(r.unload("nobody"), Error);
}

// A reload loads the source again beside the loaded copy and swaps it in: a lease taken before
// keeps the old copy (a request in flight finishes on it), new acquires get the new one, and a
// reload whose load fails leaves the old copy serving.
TEST(ModelRegistry, ReloadSwapsInANewCopyWhileLeasesKeepTheOldOne) {
  auto sources = three_models();
  const std::string copy = testing::TempDir() + "/registry-reload-roberta";
  std::filesystem::remove_all(copy);
  std::filesystem::copy(kModels + "tiny-roberta", copy, std::filesystem::copy_options::recursive);
  sources[1].path = copy;
  ModelRegistry r({0, parameter_bytes}, sources);
  const auto old_lease = r.acquire("roberta", kWait);
  const ember::Model* old_model = &old_lease.model();
  const auto before = old_model->embed({"the same answer"});
  r.reload("roberta");
  const auto new_lease = r.acquire("roberta", kWait);
  EXPECT_NE(&new_lease.model(), old_model);
  EXPECT_EQ(new_lease.model().embed({"the same answer"}), before);
  EXPECT_EQ(old_lease.model().embed({"the same answer"}), before);  // still alive
  EXPECT_EQ(status(r.list(), "roberta").loads, 2);
  EXPECT_EQ(status(r.list(), "roberta").unloads, 1);
  // A broken directory: the reload fails with the load's error, the loaded copy stays.
  std::filesystem::remove(copy + "/config.json");
  EXPECT_THROW(r.reload("roberta"), Error);
  EXPECT_EQ(status(r.list(), "roberta").state, ModelState::kLoaded);
  EXPECT_EQ(&r.acquire("roberta", kWait).model(), &new_lease.model());
  std::filesystem::remove_all(copy);
}

// What RegistryOptions::attach makes is built on each load, reachable through every lease, and
// destroyed when the model is unloaded; a throw from it fails the load with its error.
TEST(ModelRegistry, AttachmentsLiveExactlyAsLongAsTheirModel) {
  auto alive = std::make_shared<std::atomic<int>>(0);
  RegistryOptions o{0, parameter_bytes};
  o.attach = [alive](const std::string& name, const ember::Model&) -> std::shared_ptr<void> {
    EMBER_CHECK(name != "distil", ErrorKind::kUnsupported, "no attachment for ", name);
    ++*alive;
    return std::shared_ptr<int>(new int(7), [alive](int* p) {
      --*alive;
      delete p;
    });
  };
  ModelRegistry r(o, three_models());
  {
    const auto lease = r.acquire("roberta", kWait);
    EXPECT_EQ(*static_cast<int*>(lease.attached()), 7);
    EXPECT_EQ(alive->load(), 1);
  }
  EXPECT_TRUE(r.unload("roberta"));
  EXPECT_EQ(alive->load(), 0);
  try {
    r.acquire("distil", kWait);
    FAIL() << "the attachment's error should fail the load";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
  EXPECT_EQ(status(r.list(), "distil").state, ModelState::kFailed);
}

// A registry whose loads of `blocked` wait in `attach` until the test releases them: an order of
// events that does not depend on how fast anything runs.
struct Gate {
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
};

RegistryOptions blocking(const std::shared_ptr<Gate>& gate, std::string blocked) {
  RegistryOptions o{0, parameter_bytes};
  o.attach = [gate, blocked](const std::string& name, const ember::Model&) {
    if (name == blocked) gate->opened.wait();
    return std::shared_ptr<void>();
  };
  return o;
}

// What a parked request is resumed with: its lease's model name, or its error's kind.
struct Outcome {
  std::promise<std::string> name;
  std::promise<ErrorKind> error;
  std::future<std::string> got_name = name.get_future();
  std::future<ErrorKind> got_error = error.get_future();
};

ModelRegistry::Resume resume_into(const std::shared_ptr<Outcome>& out) {
  return [out](const std::function<ModelRegistry::Lease()>& get) {
    try {
      out->name.set_value(get().name());
    } catch (const Error& e) {
      out->error.set_value(e.kind());
    }
  };
}

bool ready(const std::future<std::string>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// A request for a model that is loading is parked, not waited for: acquire_or_park returns at
// once, and the request is resumed with its lease when the load ends, or with kUnavailable when
// its wait passes first; a loaded model is returned at once without parking.
TEST(ModelRegistry, ParkedRequestsResumeWhenTheLoadEndsOrTheirWaitPasses) {
  auto gate = std::make_shared<Gate>();
  ModelRegistry r(blocking(gate, "roberta"), three_models());
  auto patient = std::make_shared<Outcome>(), hasty = std::make_shared<Outcome>();
  int parks = 0;
  const auto park = [&](const std::shared_ptr<Outcome>& out) {
    return [&parks, out] {
      ++parks;
      return resume_into(out);
    };
  };
  EXPECT_FALSE(r.acquire_or_park("roberta", kWait, park(patient)));
  EXPECT_FALSE(r.acquire_or_park("roberta", milliseconds(1), park(hasty)));
  EXPECT_EQ(parks, 2);
  // The load cannot end before the gate opens: the hasty one's wait passes first.
  EXPECT_EQ(hasty->got_error.get(), ErrorKind::kUnavailable);
  EXPECT_EQ(status(r.list(), "roberta").state, ModelState::kLoading);
  EXPECT_EQ(status(r.list(), "roberta").waiting, 1);
  EXPECT_FALSE(ready(patient->got_name));
  gate->open.set_value();
  EXPECT_EQ(patient->got_name.get(), "roberta");
  EXPECT_EQ(status(r.list(), "roberta").waiting, 0);
  // Loaded: the lease at once, nothing parked.
  const auto lease = r.acquire_or_park("roberta", kWait, park(std::make_shared<Outcome>()));
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->name(), "roberta");
  EXPECT_EQ(parks, 2);
  EXPECT_THROW(r.acquire_or_park("nobody", kWait, park(std::make_shared<Outcome>())), Error);
}

// At the server's stop, parked requests are resumed with kUnavailable at once, and none is
// parked from then on.
TEST(ModelRegistry, StopParkingResumesEveryParkedRequest) {
  auto gate = std::make_shared<Gate>();
  ModelRegistry r(blocking(gate, "distil"), three_models());
  auto out = std::make_shared<Outcome>();
  EXPECT_FALSE(r.acquire_or_park("distil", kWait, [&] { return resume_into(out); }));
  r.stop_parking();
  EXPECT_EQ(out->got_error.get(), ErrorKind::kUnavailable);
  try {
    r.acquire_or_park("distil", kWait, [&] { return resume_into(std::make_shared<Outcome>()); });
    FAIL() << "parking after stop_parking() should be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
  }
  gate->open.set_value();  // the loader thread finishes its load before the registry goes
}

}  // namespace
}  // namespace ember::serve
