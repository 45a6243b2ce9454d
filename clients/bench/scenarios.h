// The benchmark scenarios. Each starts the real binaries on 127.0.0.1
// (plain text: --insecure), measures, stops them and adds rows to the
// report.
#ifndef TALLY_CLIENTS_BENCH_SCENARIOS_H_
#define TALLY_CLIENTS_BENCH_SCENARIOS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/bench/child_process.h"
#include "clients/bench/ingest_load.h"
#include "clients/bench/report.h"
#include "clients/bench/workload.h"

namespace tally::bench {

struct BenchConfig {
  std::string work_dir;
  std::string aggregator_bin, collector_bin, relay_bin, tallyctl_bin;
  std::string pg_bin_dir;
  // Words put before the aggregator's command line (a profiler, e.g.
  // "valgrind --tool=callgrind").
  std::vector<std::string> aggregator_prefix;
  // Extra aggregator flags (e.g. --max_inflight_batches=64).
  std::vector<std::string> aggregator_flags;
  bool keep = false;  // keep data directories and logs

  // ingest (tally and the PostgreSQL peer)
  std::vector<uint32_t> streams = {1, 4, 16};
  std::vector<uint32_t> batches = {1, 16, 256};
  // Unacknowledged protocols per stream (see BatchesInFlight).
  uint32_t window = 1024;
  uint64_t ingest_protocols = 400'000;
  double ingest_max_seconds = 15;
  uint64_t pg_protocols = 100'000;
  double pg_max_seconds = 15;
  bool postgres = true;

  // two-hop
  uint32_t twohop_collectors = 8;
  uint32_t twohop_clients = 8;  // concurrent station clients per collector
  std::vector<uint32_t> twohop_chunks = {1, 100};
  uint64_t twohop_protocols = 200'000;
  double twohop_max_seconds = 20;

  // feed
  std::vector<uint32_t> watchers = {1000, 10000};
  uint32_t watchers_per_connection = 100;
  double feed_rate = 2000;  // protocols/s ingested meanwhile
  uint32_t feed_batch = 100;
  double feed_seconds = 15;

  // replication (single node and 3 replicas on 3 etcd members)
  uint32_t replication_streams = 4;
  uint32_t replication_batch = 256;
  int failover_kills = 10;
  double failover_interval_seconds = 4;
  double failover_rate = 3000;  // protocols/s during the kills
  uint64_t failover_protocols = 200'000;

  // scale and recovery
  std::vector<std::string> scale_shapes = {"india", "indonesia"};
  double scale_fraction = 1.0;

  // the transparency log ("reference": the embedded 2023 election; other
  // shapes as scale, times log_fraction)
  std::vector<std::string> log_shapes = {"reference", "indonesia"};
  double log_fraction = 1.0;
  uint32_t log_proofs = 1000;  // inclusion proofs, and consistency proofs

  // forensics: rounds of (off, on) ingests of ingest_protocols each
  uint32_t forensics_rounds = 3;
};

// Helpers shared by the scenarios' files.
// Batches a stream keeps unacknowledged: about `window` protocols, as
// whole batches, between 1 and 64 of them.
uint32_t BatchesInFlight(uint32_t window, uint32_t batch);
// A timestamped progress line on stderr.
void Progress(const std::string& text);
// work_dir/name, emptied.
std::string FreshDir(const BenchConfig& config, const std::string& name);
// Removes `dir` unless --keep.
void RemoveDir(const BenchConfig& config, const std::string& dir);
// Starts the aggregator (behind config.aggregator_prefix, with
// config.aggregator_flags) on dir/db, logging to dir/log_name; with the
// definition file unless `definition_path` is empty.
absl::StatusOr<Server> StartAggregator(const BenchConfig& config,
                                       const std::string& dir,
                                       const std::string& definition_path,
                                       const std::string& log_name);

// count / seconds (0 for no time).
double Rate(uint64_t count, double seconds);
// What an ingest run acknowledged and how fast (protocols, accepted,
// seconds, protocols_per_second, ack p50/p99), for any scenario that
// ingests through RunIngest.
void AddIngestFigures(Row& row, IngestResult& result);

// An ingest run of the ingest scenario's shape: `streams` x `batch` to
// `address`, config.window protocols in flight per stream, at most
// config.ingest_max_seconds.
IngestOptions IngestRunOptions(const BenchConfig& config,
                               const std::string& address, uint32_t streams,
                               uint32_t batch);

// Sends a whole generated night to the aggregator at `address` as the
// scale-size runs do: 16 streams of 256-protocol batches, one collector
// per region named `collector_prefix`-N, for at most two hours.
IngestResult IngestWholeNight(const BenchConfig& config,
                              const std::string& address,
                              const Workload& workload,
                              const std::string& collector_prefix);

// How long a stopped aggregator may take to exit before it is killed: 30 s,
// or 10 minutes under a profiler (--aggregator_prefix), whose clean stop
// (flushing the memtables) is tens of times slower and whose profile is
// written only by a process that exits.
absl::Duration AggregatorStopGrace(const BenchConfig& config);

void RunIngestScenario(const BenchConfig& config, const Workload& workload,
                       Report& report);
void RunTwoHopScenario(const BenchConfig& config, const Workload& workload,
                       Report& report);
void RunFeedScenario(const BenchConfig& config, const Workload& workload,
                     Report& report);
void RunScaleScenario(const BenchConfig& config, Report& report);
// The log's proofs (latency, nodes read) and `tallyctl audit` of a whole
// night (clients/bench/log_scenario.cc).
void RunLogScenario(const BenchConfig& config, Report& report);
// The cost of the election forensics: the ingest of the same protocols with
// --forensics=false and =true, alternated over `forensics_rounds` rounds,
// side by side (clients/bench/forensics_scenario.cc).
void RunForensicsScenario(const BenchConfig& config, const Workload& workload,
                          Report& report);
void RunReplicationScenario(const BenchConfig& config, const Workload& workload,
                            Report& report);

// Compares the rows with the targets.
void AddTargets(Report& report);

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_SCENARIOS_H_
