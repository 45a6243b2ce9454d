// Synthetic elections and their protocols for the benchmarks. Elections
// are DefinitionSpecs expanded by the project's definition generator;
// protocols are the election-night generator's truth (version 1 of every
// (contest, station)), kept serialized so that no client spends its CPU
// encoding while the servers are measured.
#ifndef TALLY_CLIENTS_BENCH_WORKLOAD_H_
#define TALLY_CLIENTS_BENCH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/tools.pb.h"

namespace tally::bench {

// The shapes the benchmark knows. "bench": the measurement election of the
// ingest, two-hop and feed scenarios (16 regions, 64 districts, a national
// party list and a single-mandate contest per district). "indonesia": 38
// provinces, 84 districts, a national presidential contest and four
// district contests per station (5 protocols per station). "india": 36
// states, 543 single-mandate constituencies (1 protocol per station).
absl::StatusOr<v1::DefinitionSpec> ShapeSpec(const std::string& shape,
                                             uint32_t stations);

// Full-size station counts of the named shapes.
uint32_t ShapeStations(const std::string& shape);

// One serialized StationProtocol with what the drivers need to know
// without parsing it.
struct EncodedProtocol {
  std::string bytes;
  uint32_t station_id = 0;
  uint32_t contest = 0;  // index into Workload::contest_ids
};

struct Workload {
  v1::ElectionDefinition definition;
  std::string definition_path;  // JSON, for the servers' --definition
  std::vector<std::string> region_ids;
  std::vector<std::string> contest_ids;
  // Protocols by region index; within a region in generation order.
  std::vector<std::vector<EncodedProtocol>> by_region;
  uint64_t total = 0;
  double generate_seconds = 0;
};

// Expands `spec`, writes the definition to `definition_path` and generates
// every truth protocol (contests in groups, to bound peak memory).
absl::StatusOr<Workload> BuildWorkload(const v1::DefinitionSpec& spec,
                                       const std::string& definition_path,
                                       uint64_t seed);

// The same for a given definition (e.g. the embedded reference election,
// EmbeddedDefaultDefinition).
absl::StatusOr<Workload> WorkloadOf(v1::ElectionDefinition definition,
                                    const std::string& definition_path,
                                    uint64_t seed);

// Takes up to `count` protocols spread evenly over the regions: region r
// gets its first count/regions (the remainder to the first regions).
std::vector<std::vector<const EncodedProtocol*>> TakeEvenly(
    const Workload& workload, uint64_t count);

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_WORKLOAD_H_
