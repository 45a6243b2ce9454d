// Offline and online verification: recomputes every total from the stored
// protocols (the latest version of each) from scratch and compares it with
// the stored totals; also checks that every `latest` entry points at a
// stored version with the same digest.
#ifndef TALLY_STORAGE_CONSISTENCY_CHECK_H_
#define TALLY_STORAGE_CONSISTENCY_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/domain/election_index.h"
#include "storage/aggregator_store.h"

namespace tally::storage {

struct VerifyReport {
  uint64_t revision = 0;
  uint64_t protocol_versions = 0;  // stored versions read
  uint64_t protocols_counted = 0;  // latest versions summed
  uint64_t totals_compared = 0;
  // Each difference in words; empty when the store is consistent.
  std::vector<std::string> differences;
};

absl::StatusOr<VerifyReport> VerifyStore(AggregatorStore& store,
                                         const ElectionIndex& index);

}  // namespace tally::storage

#endif  // TALLY_STORAGE_CONSISTENCY_CHECK_H_
