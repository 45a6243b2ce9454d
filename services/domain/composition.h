// The composition of a chamber: seats by nominating party over every
// seat-filling contest of an election. A party-list contest's seats go to
// its choices (the parties); a single-mandate contest's seat goes to the
// party that nominated its winner (Choice.party_id), or to the row of the
// self-nominated candidates when the winner names no party. Presidential
// contests fill no seat and are left out. Pure function of its arguments.
#ifndef TALLY_SERVICES_DOMAIN_COMPOSITION_H_
#define TALLY_SERVICES_DOMAIN_COMPOSITION_H_

#include <vector>

#include "tally/v1/election.pb.h"
#include "tally/v1/results.pb.h"

namespace tally {

// Seats by party from the current allocations (any order; the allocation
// of a contest at its own scope counts, national for a national contest and
// the contest's district for a district contest; others, and allocations of
// contests the definition does not have, are ignored; of two for the same
// contest the first counts). A counted contest without an allocation
// contributes its seats to `seats` only and makes the composition
// provisional. Row order: see ChamberComposition.parties.
v1::ChamberComposition ComputeComposition(
    const v1::ElectionDefinition& definition,
    const std::vector<const v1::SeatAllocation*>& allocations);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_COMPOSITION_H_
