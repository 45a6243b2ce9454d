// The bridge between the election model (v1 protos) and the pure seat
// allocation library: builds seats::Input from a contest's rule and its
// totals, and turns a seats::Result into the v1::SeatAllocation that the
// feed publishes.
#ifndef TALLY_SERVICES_DOMAIN_CONTEST_ALLOCATION_H_
#define TALLY_SERVICES_DOMAIN_CONTEST_ALLOCATION_H_

#include "absl/status/statusor.h"
#include "services/domain/seat_allocation.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/results.pb.h"

namespace tally {

absl::StatusOr<seats::Method> FromProto(v1::AllocationMethod method);
seats::VoteBase FromProto(v1::VoteBase base);
seats::TieRule FromProto(v1::TieRule rule);
v1::AllocationMethod ToProto(seats::Method method);
v1::AllocationStatus ToProto(seats::Status status);
v1::Rational ToProto(const Rational& value);

// The allocation input for a contest given its totals (votes per choice in
// any order; choices absent from the totals count as zero).
absl::StatusOr<seats::Input> AllocationInputFor(const v1::Contest& contest,
                                                const v1::Totals& totals);

// Fills everything the pure library knows: method, seats, status, per-choice
// seats/quotients/remainders, quota, threshold, last seat, runoff, tie
// breaks. min/max seats are set to the seats (no votes outstanding); scope,
// revision, provisional and wider bounds are the caller's.
void FillAllocation(const seats::Input& input, const seats::Result& result,
                    v1::SeatAllocation* allocation);

// AllocationInputFor + Allocate + FillAllocation; contest id and scope and
// `provisional` (stations_reported < stations_expected) are set from totals.
absl::StatusOr<v1::SeatAllocation> AllocateContest(const v1::Contest& contest,
                                                   const v1::Totals& totals);

// The allocation the aggregator publishes for a contest from the totals of
// its own scope (national, or its district), as anyone recomputing the
// results must get it: AllocateContest, plus the guaranteed min/max seats
// of every choice while stations are outstanding (seat_bounds.h). The
// outstanding ballots are the most validation can still accept under
// `policy` (the definition's): the ballot caps of the stations not yet
// reported (Totals.ballot_cap_expected - ballot_cap_reported), or no bound
// at all when the policy lets a protocol exceed its cap (ballot_cap.h); the
// allocation's range_basis and outstanding_ballots say which. The ranges
// hold given the counted protocols (corrections of reported stations are
// not covered). It also says whether the contest is decided (decided,
// seats_open, decided_winner_choice_id: seat_decision.h MarkDecision);
// decided_revision, which depends on the revisions before, is left 0 for
// the aggregator to set.
// Never fails: totals beyond the exact arithmetic's range give status
// ALLOCATION_STATUS_UNSPECIFIED and the reason as a tie_breaks line, so
// that the totals are still published.
v1::SeatAllocation PublishedAllocation(const v1::Contest& contest,
                                       const v1::ValidationPolicy& policy,
                                       const v1::Totals& totals);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_CONTEST_ALLOCATION_H_
