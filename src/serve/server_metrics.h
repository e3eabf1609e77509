// The server's gauges and counters read at scrape time: the request memory budget, the process,
// the batchers (summed over the loaded models), the result cache, and each model's state.
#pragma once

#include "serve/memory_budget.h"
#include "serve/metrics.h"
#include "serve/result_cache.h"
#include "serve/served_model.h"

namespace ember::serve {

void add_server_metrics(Metrics& metrics, const MemoryBudget& budget, const ServedModels& models,
                        const ResultCache& cache);

}  // namespace ember::serve
