// Known falsification signatures planted into a generated night, so that
// the election forensics (services/domain/forensics.h) can be tested and
// demonstrated:
//   stuffing:REGION[:PERCENT]  at PERCENT% (default 5) of the region's
//       stations, extra ballots for each contest's leading choice: 70% of
//       the voters who did not vote are added as ballots issued, found and
//       cast for the leader (and as ballots received), raising turnout and
//       the leader's share together;
//   round_numbers:REGION  at every station of the region, the turnout and
//       the leading choice's share are rewritten to the counts nearest to
//       whole percentages (the other choices keep their proportions).
// Every planted protocol still passes validation; the national sums no
// longer match the target result. Deterministic for a seed.
#ifndef TALLY_CLIENTS_SIMULATOR_ANOMALIES_H_
#define TALLY_CLIENTS_SIMULATOR_ANOMALIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/domain/election_index.h"
#include "tally/v1/protocol.pb.h"

namespace tally::sim {

struct Anomaly {
  enum class Kind { kStuffing, kRoundNumbers };
  Kind kind = Kind::kStuffing;
  std::string region_id;
  // Stuffing: the share of the region's stations, 1..100.
  uint32_t percent = 5;
};

// "stuffing:REGION[:PERCENT]" or "round_numbers:REGION"; InvalidArgument
// naming what is wrong otherwise.
absl::StatusOr<Anomaly> ParseAnomaly(absl::string_view text);

// Rewrites the truth protocols of the anomaly's region in place. NotFound
// for a region the definition does not have. Returns the number of
// stations changed.
absl::StatusOr<uint64_t> PlantAnomaly(const ElectionIndex& index,
                                      const Anomaly& anomaly, uint64_t seed,
                                      std::vector<v1::StationProtocol>* truth);

}  // namespace tally::sim

#endif  // TALLY_CLIENTS_SIMULATOR_ANOMALIES_H_
