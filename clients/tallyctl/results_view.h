// Human-readable rendering of totals and seat allocations for tallyctl
// results and watch. Percentages are the shares the totals carry
// (ChoiceTotal.share, Totals.against_all_share: of the base the contest's
// rule names, share_base), rounded half up to two decimals and never
// re-derived here; each table names its base ("% of party votes + against
// all (6,366,441)"). Pure functions of their arguments; any thread.
#ifndef TALLY_CLIENTS_TALLYCTL_RESULTS_VIEW_H_
#define TALLY_CLIENTS_TALLYCTL_RESULTS_VIEW_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/feed.pb.h"
#include "tally/v1/results.pb.h"

namespace tally::cli {

// Names for ids, from the definition.
class ElectionNames {
 public:
  explicit ElectionNames(const v1::ElectionDefinition& definition);
  const v1::ElectionDefinition& definition() const { return definition_; }
  const v1::Contest* contest(const std::string& id) const;
  std::string choice(const std::string& contest_id,
                     const std::string& choice_id) const;
  std::string scope(const v1::Scope& scope) const;

 private:
  v1::ElectionDefinition definition_;
  absl::flat_hash_map<std::string, const v1::Contest*> contests_;
  absl::flat_hash_map<std::string, std::string> regions_;
  absl::flat_hash_map<std::string, std::string> districts_;
};

// "12.34" for num/den in percent (exact integer rounding), "-" for den 0.
std::string Percent(uint64_t num, uint64_t den);
// 1234567 -> "1,234,567".
std::string Grouped(uint64_t value);

// A full table: reporting, turnout, the share base, votes and shares per
// choice, seats with their guaranteed range while provisional, the
// last-seat margin.
std::string RenderContest(const ElectionNames& names, const v1::Totals& totals,
                          const v1::SeatAllocation* allocation);

// One line: leader, its share, reported stations (for district contests),
// and ", final" or ", decided" (SeatAllocation.decided) when it is.
std::string RenderContestLine(const ElectionNames& names,
                              const v1::Totals& totals,
                              const v1::SeatAllocation* allocation);

// Whether the allocation is decided (SeatAllocation.decided): "decided at
// revision R[: WINNER wins] (every seat certain with N ballots
// outstanding)", or "seats still open: N of S (...)".
std::string DecisionLine(const ElectionNames& names,
                         const v1::SeatAllocation& allocation);

// "Decided: D of C contests; seats still open: N of S", over the
// seat-filling contests among `allocations` (presidential ones left out).
std::string RenderDecisionSummary(
    const ElectionNames& names,
    const std::vector<const v1::SeatAllocation*>& allocations);

// The line tallyctl watch prints when a contest becomes decided ("revision
// R: NAME [id] decided, WINNER wins, with P% of stations reported") or a
// correction re-opens it; `progress` is the event's.
std::string RenderDecidedChange(const ElectionNames& names,
                                const v1::SeatAllocation& allocation,
                                const v1::Progress& progress);

// The composition table (services/domain/composition.h): seats by
// nominating party, list and district seats, self-nominated as a row.
std::string RenderComposition(const v1::ChamberComposition& composition);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_RESULTS_VIEW_H_
