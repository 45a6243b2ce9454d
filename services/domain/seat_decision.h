// "Mathematically decided": when the guaranteed seat ranges of a published
// allocation (contest_allocation.h PublishedAllocation) leave nothing to
// chance. Pure computation on the allocation message, O(choices): the
// proof of a decision is the allocation itself (its ranges, range_basis and
// outstanding_ballots). See SeatAllocation.decided in results.proto.
#ifndef TALLY_SERVICES_DOMAIN_SEAT_DECISION_H_
#define TALLY_SERVICES_DOMAIN_SEAT_DECISION_H_

#include <cstdint>
#include <string>

#include "tally/v1/results.pb.h"

namespace tally {

// True when the final seats of every choice are certain: a final
// allocation, or every range closed (min_seats == max_seats) under
// RANGE_BASIS_BALLOT_CAP, unless a runoff is required while stations are
// outstanding (who goes to it may still change). False for an unavailable
// allocation (status UNSPECIFIED) and under RANGE_BASIS_UNBOUNDED.
bool AllocationDecided(const v1::SeatAllocation& allocation);

// Seats not yet certain: 0 when decided, else seats - sum of min_seats
// (never below 0).
uint32_t SeatsOpen(const v1::SeatAllocation& allocation);

// A decided single-seat allocation's certain winner (the choice with
// min_seats == 1); empty when undecided, not single-seat, or the seat
// stays unfilled.
std::string DecidedWinner(const v1::SeatAllocation& allocation);

// Sets decided, seats_open and decided_winner_choice_id from the ranges.
// decided_revision is left alone: it depends on the history (below).
void MarkDecision(v1::SeatAllocation* allocation);

// The decided_revision of `allocation` (already marked) given the one of
// the same contest's previous allocation: kept while it stays decided,
// the allocation's revision when it becomes decided, 0 when undecided (a
// correction re-opened it).
uint64_t NextDecidedRevision(uint64_t previous,
                             const v1::SeatAllocation& allocation);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_SEAT_DECISION_H_
