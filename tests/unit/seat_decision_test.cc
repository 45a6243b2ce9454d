// "Mathematically decided" (services/domain/seat_decision.h) on hand-made
// allocations: closed ranges, seats still open, the certain winner of a
// single seat, and how the decided revision follows the allocations.
#include "services/domain/seat_decision.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tally {
namespace {

struct Range {
  uint32_t seats;
  uint32_t min;
  uint32_t max;
};

v1::SeatAllocation Allocation(
    uint32_t seats, v1::RangeBasis basis, const std::vector<Range>& ranges,
    v1::AllocationStatus status = v1::ALLOCATION_STATUS_ALLOCATED) {
  v1::SeatAllocation allocation;
  allocation.set_contest_id("contest");
  allocation.set_seats(seats);
  allocation.set_status(status);
  allocation.set_range_basis(basis);
  allocation.set_provisional(basis != v1::RANGE_BASIS_FINAL);
  allocation.set_revision(40);
  int i = 0;
  for (const Range& range : ranges) {
    v1::ChoiceSeats* choice = allocation.add_choices();
    choice->set_choice_id("c" + std::to_string(i++));
    choice->set_seats(range.seats);
    choice->set_min_seats(range.min);
    choice->set_max_seats(range.max);
  }
  return allocation;
}

TEST(SeatDecision, OpenRangesLeaveSeatsOpen) {
  // 10 seats: 4 + 2 + 0 certain, 4 still open.
  const v1::SeatAllocation allocation = Allocation(
      10, v1::RANGE_BASIS_BALLOT_CAP, {{5, 4, 6}, {3, 2, 4}, {2, 0, 3}});
  EXPECT_FALSE(AllocationDecided(allocation));
  EXPECT_EQ(SeatsOpen(allocation), 4u);
  EXPECT_EQ(DecidedWinner(allocation), "");
}

TEST(SeatDecision, EveryRangeClosedIsDecidedWhileProvisional) {
  const v1::SeatAllocation allocation = Allocation(
      10, v1::RANGE_BASIS_BALLOT_CAP, {{6, 6, 6}, {4, 4, 4}, {0, 0, 0}});
  EXPECT_TRUE(AllocationDecided(allocation));
  EXPECT_EQ(SeatsOpen(allocation), 0u);
  // Not a single seat: no winner named.
  EXPECT_EQ(DecidedWinner(allocation), "");
}

TEST(SeatDecision, OneOpenRangeIsEnoughToBeUndecided) {
  // The ranges of two lists can be closed while a third is not: the seat
  // between them is open.
  const v1::SeatAllocation allocation = Allocation(
      10, v1::RANGE_BASIS_BALLOT_CAP, {{6, 6, 6}, {4, 3, 4}, {0, 0, 1}});
  EXPECT_FALSE(AllocationDecided(allocation));
  EXPECT_EQ(SeatsOpen(allocation), 1u);
}

TEST(SeatDecision, FinalIsDecided) {
  const v1::SeatAllocation allocation =
      Allocation(10, v1::RANGE_BASIS_FINAL, {{7, 7, 7}, {3, 3, 3}});
  EXPECT_TRUE(AllocationDecided(allocation));
  EXPECT_EQ(SeatsOpen(allocation), 0u);
}

TEST(SeatDecision, FinalWithoutSeatsLeavesNoneOpen) {
  // No list passed the threshold: decided, and the seats stay unfilled
  // rather than open.
  const v1::SeatAllocation allocation =
      Allocation(10, v1::RANGE_BASIS_FINAL, {{0, 0, 0}, {0, 0, 0}},
                 v1::ALLOCATION_STATUS_NO_LIST_PASSED);
  EXPECT_TRUE(AllocationDecided(allocation));
  EXPECT_EQ(SeatsOpen(allocation), 0u);
}

TEST(SeatDecision, UnboundedIsNeverDecidedWhileStationsAreOutstanding) {
  // Even ranges that look closed (a 0-seat contest) do not decide anything
  // when nothing bounds the stations still to report.
  v1::SeatAllocation allocation =
      Allocation(1, v1::RANGE_BASIS_UNBOUNDED, {{1, 0, 1}, {0, 0, 1}});
  EXPECT_FALSE(AllocationDecided(allocation));
  EXPECT_EQ(SeatsOpen(allocation), 1u);
  allocation.mutable_choices(0)->set_min_seats(1);
  allocation.mutable_choices(0)->set_max_seats(1);
  allocation.mutable_choices(1)->set_max_seats(0);
  EXPECT_FALSE(AllocationDecided(allocation));
}

TEST(SeatDecision, UnavailableAllocationIsNotDecided) {
  v1::SeatAllocation allocation =
      Allocation(1, v1::RANGE_BASIS_UNSPECIFIED, {{0, 0, 0}, {0, 0, 0}},
                 v1::ALLOCATION_STATUS_UNSPECIFIED);
  EXPECT_FALSE(AllocationDecided(allocation));
  EXPECT_EQ(SeatsOpen(allocation), 1u);
  allocation.set_range_basis(v1::RANGE_BASIS_FINAL);
  EXPECT_FALSE(AllocationDecided(allocation));
}

TEST(SeatDecision, SingleSeatWinnerIsCertain) {
  const v1::SeatAllocation open =
      Allocation(1, v1::RANGE_BASIS_BALLOT_CAP, {{1, 0, 1}, {0, 0, 1}});
  EXPECT_FALSE(AllocationDecided(open));
  EXPECT_EQ(SeatsOpen(open), 1u);
  EXPECT_EQ(DecidedWinner(open), "");

  const v1::SeatAllocation certain =
      Allocation(1, v1::RANGE_BASIS_BALLOT_CAP, {{0, 0, 0}, {1, 1, 1}});
  EXPECT_TRUE(AllocationDecided(certain));
  EXPECT_EQ(SeatsOpen(certain), 0u);
  EXPECT_EQ(DecidedWinner(certain), "c1");
}

TEST(SeatDecision, CertainNoWinnerNamesNone) {
  // "Against all" surely prevails: decided, the seat stays unfilled.
  const v1::SeatAllocation allocation =
      Allocation(1, v1::RANGE_BASIS_BALLOT_CAP, {{0, 0, 0}, {0, 0, 0}},
                 v1::ALLOCATION_STATUS_AGAINST_ALL_PREVAILED);
  EXPECT_TRUE(AllocationDecided(allocation));
  EXPECT_EQ(SeatsOpen(allocation), 0u);
  EXPECT_EQ(DecidedWinner(allocation), "");
}

TEST(SeatDecision, ProvisionalRunoffIsNotDecided) {
  // Nobody can reach a majority any more, but who goes to the runoff can
  // still change.
  v1::SeatAllocation allocation =
      Allocation(1, v1::RANGE_BASIS_BALLOT_CAP, {{0, 0, 0}, {0, 0, 0}},
                 v1::ALLOCATION_STATUS_RUNOFF_REQUIRED);
  EXPECT_FALSE(AllocationDecided(allocation));
  allocation.set_range_basis(v1::RANGE_BASIS_FINAL);
  EXPECT_TRUE(AllocationDecided(allocation));
}

TEST(SeatDecision, MarkDecisionSetsTheFields) {
  v1::SeatAllocation allocation =
      Allocation(1, v1::RANGE_BASIS_BALLOT_CAP, {{1, 1, 1}, {0, 0, 0}});
  MarkDecision(&allocation);
  EXPECT_TRUE(allocation.decided());
  EXPECT_EQ(allocation.seats_open(), 0u);
  EXPECT_EQ(allocation.decided_winner_choice_id(), "c0");
  EXPECT_EQ(allocation.decided_revision(), 0u);  // the aggregator's

  allocation.mutable_choices(0)->set_min_seats(0);
  MarkDecision(&allocation);
  EXPECT_FALSE(allocation.decided());
  EXPECT_EQ(allocation.seats_open(), 1u);
  EXPECT_EQ(allocation.decided_winner_choice_id(), "");
}

TEST(SeatDecision, DecidedRevisionIsTheFirstDecidedAllocation) {
  v1::SeatAllocation allocation =
      Allocation(1, v1::RANGE_BASIS_BALLOT_CAP, {{1, 0, 1}, {0, 0, 1}});
  MarkDecision(&allocation);
  EXPECT_EQ(NextDecidedRevision(0, allocation), 0u);

  // Becomes decided at its revision, 40.
  allocation.mutable_choices(0)->set_min_seats(1);
  allocation.mutable_choices(1)->set_max_seats(0);
  MarkDecision(&allocation);
  const uint64_t decided_at = NextDecidedRevision(0, allocation);
  EXPECT_EQ(decided_at, 40u);

  // Later allocations that stay decided keep it.
  allocation.set_revision(55);
  EXPECT_EQ(NextDecidedRevision(decided_at, allocation), 40u);

  // A correction re-opens it: back to 0; decided again later, at the
  // revision of that later allocation.
  allocation.mutable_choices(0)->set_min_seats(0);
  MarkDecision(&allocation);
  EXPECT_EQ(NextDecidedRevision(decided_at, allocation), 0u);
  allocation.mutable_choices(0)->set_min_seats(1);
  allocation.set_revision(61);
  MarkDecision(&allocation);
  EXPECT_EQ(NextDecidedRevision(0, allocation), 61u);
}

}  // namespace
}  // namespace tally
