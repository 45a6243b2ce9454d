#include "services/domain/seat_decision.h"

namespace tally {

bool AllocationDecided(const v1::SeatAllocation& allocation) {
  if (allocation.status() == v1::ALLOCATION_STATUS_UNSPECIFIED) return false;
  switch (allocation.range_basis()) {
    case v1::RANGE_BASIS_FINAL:
      return true;
    case v1::RANGE_BASIS_BALLOT_CAP:
      break;
    default:
      // UNBOUNDED: nothing bounds the stations still to report.
      return false;
  }
  // Every range closed while ballots are outstanding. A required runoff is
  // certain then, but not who goes to it.
  if (allocation.status() == v1::ALLOCATION_STATUS_RUNOFF_REQUIRED) {
    return false;
  }
  for (const v1::ChoiceSeats& choice : allocation.choices()) {
    if (choice.min_seats() != choice.max_seats()) return false;
  }
  return true;
}

uint32_t SeatsOpen(const v1::SeatAllocation& allocation) {
  if (AllocationDecided(allocation)) return 0;
  uint64_t certain = 0;
  for (const v1::ChoiceSeats& choice : allocation.choices()) {
    certain += choice.min_seats();
  }
  return certain >= allocation.seats()
             ? 0
             : allocation.seats() - static_cast<uint32_t>(certain);
}

std::string DecidedWinner(const v1::SeatAllocation& allocation) {
  if (allocation.seats() != 1 || !AllocationDecided(allocation)) return "";
  for (const v1::ChoiceSeats& choice : allocation.choices()) {
    if (choice.min_seats() == 1) return choice.choice_id();
  }
  return "";
}

void MarkDecision(v1::SeatAllocation* allocation) {
  allocation->set_decided(AllocationDecided(*allocation));
  allocation->set_seats_open(SeatsOpen(*allocation));
  allocation->set_decided_winner_choice_id(DecidedWinner(*allocation));
}

uint64_t NextDecidedRevision(uint64_t previous,
                             const v1::SeatAllocation& allocation) {
  if (!allocation.decided()) return 0;
  return previous != 0 ? previous : allocation.revision();
}

}  // namespace tally
