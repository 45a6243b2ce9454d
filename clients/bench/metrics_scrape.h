// Reads a server's Prometheus /metrics (its --admin_listen endpoint) and
// picks out series by name, for the where-the-time-goes figures.
#ifndef TALLY_CLIENTS_BENCH_METRICS_SCRAPE_H_
#define TALLY_CLIENTS_BENCH_METRICS_SCRAPE_H_

#include <string>

#include "absl/container/flat_hash_map.h"

namespace tally::bench {

// Series text (name with labels, as exposed) -> value. Empty on failure.
absl::flat_hash_map<std::string, double> ScrapeMetrics(
    const std::string& admin_address);

// CPU seconds (user + system) a process has used, from /proc.
double ProcessCpuSeconds(int pid);

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_METRICS_SCRAPE_H_
