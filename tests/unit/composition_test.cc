// Seats by nominating party over every contest (services/domain/composition.h)
// on the mini election: list "list" (party-a, party-b, party-c, 10 seats),
// single mandates "smd-1" (district d-1) and "smd-2" (d-2), candidates
// cand-x and cand-y.
#include "services/domain/composition.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/mini_election.h"

namespace tally {
namespace {

v1::SeatAllocation Allocation(
    const std::string& contest_id, const std::string& district_id,
    const std::vector<std::pair<std::string, uint32_t>>& seats,
    bool provisional = false, uint64_t revision = 7) {
  v1::SeatAllocation allocation;
  allocation.set_contest_id(contest_id);
  if (district_id.empty()) {
    allocation.mutable_scope()->set_kind(v1::SCOPE_KIND_NATIONAL);
  } else {
    allocation.mutable_scope()->set_kind(v1::SCOPE_KIND_DISTRICT);
    allocation.mutable_scope()->set_id(district_id);
  }
  uint32_t total = 0;
  for (const auto& [id, n] : seats) {
    v1::ChoiceSeats* choice = allocation.add_choices();
    choice->set_choice_id(id);
    choice->set_seats(n);
    total += n;
  }
  allocation.set_seats(total);
  allocation.set_provisional(provisional);
  allocation.set_revision(revision);
  return allocation;
}

v1::Choice* Candidate(v1::ElectionDefinition* d, int contest,
                      const std::string& id) {
  for (v1::Choice& choice : *d->mutable_contests(contest)->mutable_choices()) {
    if (choice.id() == id) return &choice;
  }
  return nullptr;
}

// "name list+district=seats" per row, for compact expectations.
std::vector<std::string> Rows(const v1::ChamberComposition& composition) {
  std::vector<std::string> rows;
  for (const v1::PartySeats& row : composition.parties()) {
    rows.push_back(row.name() + " " + std::to_string(row.list_seats()) + "+" +
                   std::to_string(row.district_seats()) + "=" +
                   std::to_string(row.seats()));
  }
  return rows;
}

class CompositionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    definition_ = testing::MiniElection();
    definition_.mutable_contests(0)->mutable_choices(0)->set_name("Party A");
    definition_.mutable_contests(0)->mutable_choices(0)->set_colour("#112233");
    definition_.mutable_contests(0)->mutable_choices(1)->set_name("Party B");
    definition_.mutable_contests(0)->mutable_choices(2)->set_name("Party C");
    // smd-1: cand-x of party-b, cand-y self-nominated; smd-2: cand-x of
    // party-a, cand-y of party-c.
    Candidate(&definition_, 1, "cand-x")->set_party_id("party-b");
    Candidate(&definition_, 2, "cand-x")->set_party_id("party-a");
    Candidate(&definition_, 2, "cand-y")->set_party_id("party-c");
  }
  v1::ElectionDefinition definition_;
};

TEST_F(CompositionTest, ListAndDistrictSeatsGroupedByNominatingParty) {
  const v1::SeatAllocation list =
      Allocation("list", "", {{"party-a", 5}, {"party-b", 3}, {"party-c", 2}});
  const v1::SeatAllocation smd1 = Allocation("smd-1", "d-1", {{"cand-x", 1}});
  const v1::SeatAllocation smd2 =
      Allocation("smd-2", "d-2", {{"cand-x", 1}, {"cand-y", 0}}, false, 9);
  const v1::ChamberComposition c =
      ComputeComposition(definition_, {&smd2, &list, &smd1});
  EXPECT_EQ(c.seats(), 12u);
  EXPECT_EQ(c.allocated_seats(), 12u);
  EXPECT_FALSE(c.provisional());
  EXPECT_EQ(c.revision(), 9u);
  EXPECT_EQ(Rows(c), (std::vector<std::string>{"Party A 5+1=6", "Party B 3+1=4",
                                               "Party C 2+0=2"}));
  EXPECT_EQ(c.parties(0).party_id(), "party-a");
  EXPECT_EQ(c.parties(0).colour(), "#112233");
  EXPECT_FALSE(c.parties(0).self_nominated());
}

TEST_F(CompositionTest, SelfNominatedIsARowOfItsOwn) {
  const v1::SeatAllocation list =
      Allocation("list", "", {{"party-a", 4}, {"party-b", 4}, {"party-c", 2}});
  const v1::SeatAllocation smd1 = Allocation("smd-1", "d-1", {{"cand-y", 1}});
  const v1::SeatAllocation smd2 = Allocation("smd-2", "d-2", {{"cand-y", 1}});
  const v1::ChamberComposition c =
      ComputeComposition(definition_, {&list, &smd1, &smd2});
  // party-a and party-b tie on seats and list seats: definition order.
  EXPECT_EQ(Rows(c), (std::vector<std::string>{"Party A 4+0=4", "Party B 4+0=4",
                                               "Party C 2+1=3",
                                               "Self-nominated 0+1=1"}));
  const v1::PartySeats& self = c.parties(3);
  EXPECT_TRUE(self.self_nominated());
  EXPECT_EQ(self.party_id(), "");
  EXPECT_EQ(self.colour(), "");
}

TEST_F(CompositionTest, TiesGoToMoreListSeatsAndSelfNominatedLast) {
  // No party_id anywhere: every district winner is self-nominated.
  definition_ = testing::MiniElection();
  const v1::SeatAllocation list =
      Allocation("list", "", {{"party-a", 8}, {"party-b", 2}});
  const v1::SeatAllocation smd1 = Allocation("smd-1", "d-1", {{"cand-x", 1}});
  const v1::SeatAllocation smd2 = Allocation("smd-2", "d-2", {{"cand-y", 1}});
  const v1::ChamberComposition c =
      ComputeComposition(definition_, {&list, &smd1, &smd2});
  ASSERT_EQ(c.parties_size(), 3);
  EXPECT_EQ(c.parties(1).party_id(), "party-b");
  EXPECT_TRUE(c.parties(2).self_nominated());
  EXPECT_EQ(c.parties(2).seats(), 2u);
}

TEST_F(CompositionTest, MissingOrProvisionalAllocationsAreProvisional) {
  const v1::SeatAllocation list = Allocation(
      "list", "", {{"party-a", 6}, {"party-b", 4}}, /*provisional=*/true);
  v1::ChamberComposition c = ComputeComposition(definition_, {&list});
  EXPECT_EQ(c.seats(), 12u);
  EXPECT_EQ(c.allocated_seats(), 10u);
  EXPECT_TRUE(c.provisional());
  EXPECT_EQ(Rows(c),
            (std::vector<std::string>{"Party A 6+0=6", "Party B 4+0=4"}));

  const v1::SeatAllocation final_list =
      Allocation("list", "", {{"party-a", 6}, {"party-b", 4}});
  const v1::SeatAllocation smd1 = Allocation("smd-1", "d-1", {{"cand-x", 1}});
  c = ComputeComposition(definition_, {&final_list, &smd1});
  EXPECT_TRUE(c.provisional());  // smd-2 has no allocation yet
  EXPECT_EQ(c.allocated_seats(), 11u);

  c = ComputeComposition(definition_, {});
  EXPECT_TRUE(c.provisional());
  EXPECT_EQ(c.parties_size(), 0);
  EXPECT_EQ(c.seats(), 12u);
}

TEST_F(CompositionTest, OnlyTheContestsOwnScopeAndKnownContestsCount) {
  const v1::SeatAllocation list =
      Allocation("list", "", {{"party-a", 6}, {"party-b", 4}});
  // A district contest's allocation at the wrong scope, and an unknown
  // contest: ignored.
  const v1::SeatAllocation wrong_scope =
      Allocation("smd-1", "d-2", {{"cand-y", 1}});
  const v1::SeatAllocation unknown = Allocation("senate", "", {{"x", 3}});
  const v1::SeatAllocation smd1 = Allocation("smd-1", "d-1", {{"cand-x", 1}});
  const v1::ChamberComposition c =
      ComputeComposition(definition_, {&wrong_scope, &unknown, &list, &smd1});
  EXPECT_EQ(Rows(c),
            (std::vector<std::string>{"Party A 6+0=6", "Party B 4+1=5"}));
  EXPECT_EQ(c.allocated_seats(), 11u);
}

TEST_F(CompositionTest, PresidentialContestsFillNoSeat) {
  v1::Contest* president = definition_.add_contests();
  president->set_id("president");
  president->set_name("President");
  president->set_kind(v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY);
  president->set_seats(1);
  v1::Choice* choice = president->add_choices();
  choice->set_id("p1");
  choice->set_name("P1");
  choice->set_party_id("party-a");
  const v1::SeatAllocation win = Allocation("president", "", {{"p1", 1}});
  const v1::ChamberComposition c = ComputeComposition(definition_, {&win});
  EXPECT_EQ(c.seats(), 12u);
  EXPECT_EQ(c.allocated_seats(), 0u);
  EXPECT_EQ(c.parties_size(), 0);
}

}  // namespace
}  // namespace tally
