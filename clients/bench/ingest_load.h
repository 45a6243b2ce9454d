// Aggregator ingest load: N concurrent Ingest streams, each behaving like a
// collector's forwarder (hello, then batches with consecutive sequence
// numbers, a bounded number unacknowledged), timing every batch from its
// write to the acknowledgement that makes it durable.
#ifndef TALLY_CLIENTS_BENCH_INGEST_LOAD_H_
#define TALLY_CLIENTS_BENCH_INGEST_LOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "clients/bench/latency.h"
#include "clients/bench/workload.h"

namespace tally::bench {

struct IngestOptions {
  std::string address;
  uint32_t streams = 1;
  uint32_t batch = 1;
  // Batches a stream keeps unacknowledged (a collector's
  // --forward_inflight_batches is 4).
  uint32_t window = 4;
  // No new batch is started after this long; what is in flight completes.
  absl::Duration max_time = absl::Seconds(20);
  // Collector ids are "<prefix>-<stream>-<region>".
  std::string collector_prefix = "bench";
  // Pacing: protocols per second over all streams; 0 = as fast as acked.
  double rate = 0;
};

struct IngestResult {
  uint64_t sent = 0;
  uint64_t acked = 0;  // durable
  uint64_t accepted = 0;
  uint64_t not_accepted = 0;  // duplicate, stale or rejected verdicts
  double seconds = 0;
  LatencySamples ack_latency;  // per batch, write to durable ack
  std::vector<std::string> errors;
};

// Stream s carries the regions r with r % streams == s, one Ingest stream
// (one collector id) per region, one after the other. `by_region` holds
// each region's protocols to send.
IngestResult RunIngest(
    const IngestOptions& options, const std::vector<std::string>& region_ids,
    const std::vector<std::vector<const EncodedProtocol*>>& by_region);

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_INGEST_LOAD_H_
