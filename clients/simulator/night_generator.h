// The election-night generator: station protocols for every (contest,
// station) whose sums reproduce a target result exactly, plus the erroneous
// first versions, corrections and duplicate submissions of a realistic
// night: regional turnouts following the published regional figures
// (ResultTarget.region_turnout_percent), the leading choice's share varying
// by region and by station, and a reporting order by the regions' polls
// close and the stations' size. Deterministic for a seed on every platform
// (the polls-close offsets need the time zone database; see
// night_generator.cc for the method). Used by the simulator, the
// integration tests and the benchmarks.
#ifndef TALLY_CLIENTS_SIMULATOR_NIGHT_GENERATOR_H_
#define TALLY_CLIENTS_SIMULATOR_NIGHT_GENERATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "services/domain/election_index.h"
#include "tally/v1/protocol.pb.h"
#include "tally/v1/tools.pb.h"

namespace tally::sim {

struct NightOptions {
  uint64_t seed = 2023;
  // Targets for national contests; a national contest without a target and
  // every district contest get a plausible random result instead, in which
  // a known winner (ResultTarget.winners) gets the most votes.
  std::vector<v1::ResultTarget> targets;
  // Turnout of contests without a target, percent of registered voters.
  uint32_t default_turnout_percent = 55;
  // Share of protocols first submitted with an error and then corrected by a
  // version 2 carrying the truth, percent.
  uint32_t correction_percent = 0;
  // Share of protocols submitted twice (same version, same content), percent.
  uint32_t duplicate_percent = 0;
};

// The final, correct protocol (version 1) of every (contest, station) in
// definition order: contest-major, then station id. Every protocol passes
// ValidateProtocol. The sums over stations equal each target exactly.
absl::StatusOr<std::vector<v1::StationProtocol>> GenerateTruth(
    const ElectionIndex& index, const NightOptions& options);

// One submission of the night.
struct Submission {
  v1::StationProtocol protocol;
  // This submission is an exact repeat of an earlier one.
  bool duplicate = false;
  // When it is sent: seconds after the earliest polls close of the
  // election (ascending over the plan).
  uint64_t seconds_after_close = 0;
};

// The night's submissions in a seeded, realistic reporting order (see
// night_generator.cc, "Reporting order"): regions whose polls close first
// report first, smaller stations tend to report before larger ones, with
// seeded randomness. Every truth protocol; for correction_percent of them a
// wrong version 1 first (still passing validation, different numbers) and
// the truth as version 2 later; for duplicate_percent an extra identical
// resend somewhere after the original. Submitting all of them in order
// leaves exactly the truth counted. `truth` is GenerateTruth's output for
// `index` (possibly with anomalies planted).
std::vector<Submission> PlanNight(const ElectionIndex& index,
                                  const std::vector<v1::StationProtocol>& truth,
                                  const NightOptions& options);

// Sums of the truth for one contest and scope, computed independently of
// the aggregator's code (for tests and the simulator's final check); the
// shares of the contest's share base are set from those sums by the
// domain's SetShares (services/domain/vote_shares.h).
v1::Totals SumTruth(const ElectionIndex& index,
                    const std::vector<v1::StationProtocol>& truth,
                    const std::string& contest_id, const v1::Scope& scope);

}  // namespace tally::sim

#endif  // TALLY_CLIENTS_SIMULATOR_NIGHT_GENERATOR_H_
