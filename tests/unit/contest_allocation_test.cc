// The bridge from contests and totals (v1 protos) to the seat library and
// back into the published SeatAllocation.
#include "services/domain/contest_allocation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tally {
namespace {

using ::testing::HasSubstr;

v1::Contest PartyList() {
  v1::Contest contest;
  contest.set_id("list");
  contest.set_name("Party list");
  contest.set_kind(v1::CONTEST_KIND_PARTY_LIST);
  contest.set_seats(69);
  contest.set_against_all_on_ballot(true);
  v1::AllocationRule* rule = contest.mutable_rule();
  rule->set_method(v1::ALLOCATION_METHOD_HARE);
  rule->set_threshold_percent("5");
  rule->set_threshold_base(v1::VOTE_BASE_BALLOTS_CAST);
  rule->set_tie_seed("kz-2023");
  for (const char* id :
       {"amanat", "auyl", "respublica", "aq-jol", "qhp", "jsdp", "baytaq"}) {
    v1::Choice* choice = contest.add_choices();
    choice->set_id(id);
    choice->set_name(id);
  }
  return contest;
}

// The official national party-list totals of 19 March 2023.
v1::Totals Official2023() {
  v1::Totals totals;
  totals.set_contest_id("list");
  totals.mutable_scope()->set_kind(v1::SCOPE_KIND_NATIONAL);
  const std::pair<const char*, uint64_t> votes[] = {
      {"jsdp", 331058},       {"amanat", 3431510}, {"baytaq", 146431},
      {"respublica", 547154}, {"qhp", 432920},     {"auyl", 693938},
      {"aq-jol", 535139}};
  for (const auto& [id, count] : votes) {
    v1::ChoiceTotal* choice = totals.add_choices();
    choice->set_choice_id(id);
    choice->set_votes(count);
  }
  totals.set_against_all(248291);
  totals.set_invalid(155419);
  totals.set_stations_reported(10310);
  totals.set_stations_expected(10310);
  totals.set_revision(42);
  return totals;
}

uint32_t SeatsOf(const v1::SeatAllocation& allocation, const std::string& id) {
  for (const v1::ChoiceSeats& choice : allocation.choices()) {
    if (choice.choice_id() == id) return choice.seats();
  }
  ADD_FAILURE() << "no choice " << id;
  return 0;
}

TEST(ContestAllocation, Official2023PartyListSeats) {
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(PartyList(), Official2023());
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_EQ(allocation->contest_id(), "list");
  EXPECT_EQ(allocation->scope().kind(), v1::SCOPE_KIND_NATIONAL);
  EXPECT_EQ(allocation->method(), v1::ALLOCATION_METHOD_HARE);
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_ALLOCATED);
  EXPECT_EQ(allocation->seats(), 69u);
  EXPECT_FALSE(allocation->provisional());
  EXPECT_EQ(allocation->revision(), 42u);
  EXPECT_EQ(SeatsOf(*allocation, "amanat"), 40u);
  EXPECT_EQ(SeatsOf(*allocation, "auyl"), 8u);
  EXPECT_EQ(SeatsOf(*allocation, "respublica"), 6u);
  EXPECT_EQ(SeatsOf(*allocation, "aq-jol"), 6u);
  EXPECT_EQ(SeatsOf(*allocation, "qhp"), 5u);
  EXPECT_EQ(SeatsOf(*allocation, "jsdp"), 4u);
  EXPECT_EQ(SeatsOf(*allocation, "baytaq"), 0u);
  // Choices come out in the contest's order, not the totals' order.
  ASSERT_EQ(allocation->choices_size(), 7);
  EXPECT_EQ(allocation->choices(0).choice_id(), "amanat");
  EXPECT_EQ(allocation->choices(6).choice_id(), "baytaq");
  EXPECT_FALSE(allocation->choices(6).passed_threshold());
  EXPECT_EQ(allocation->threshold_base_votes(), 6521860u);
  EXPECT_EQ(allocation->threshold_votes(), 326093u);
  // Hare quota over the six passing lists: 5,971,719 / 69, in lowest terms.
  EXPECT_EQ(allocation->quota().numerator(), 1990573u);
  EXPECT_EQ(allocation->quota().denominator(), 23u);
  EXPECT_EQ(allocation->quota().decimal(), "86546.652174");
}

TEST(ContestAllocation, ProvisionalWhileStationsAreMissing) {
  v1::Totals totals = Official2023();
  totals.set_stations_reported(5000);
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(PartyList(), totals);
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_TRUE(allocation->provisional());
}

TEST(ContestAllocation, ChoicesMissingFromTotalsCountAsZero) {
  v1::Totals totals;
  v1::ChoiceTotal* only = totals.add_choices();
  only->set_choice_id("auyl");
  only->set_votes(10);
  absl::StatusOr<seats::Input> input = AllocationInputFor(PartyList(), totals);
  ASSERT_TRUE(input.ok()) << input.status();
  ASSERT_EQ(input->choices.size(), 7u);
  EXPECT_EQ(input->choices[0].id, "amanat");
  EXPECT_EQ(input->choices[0].votes, 0u);
  EXPECT_EQ(input->choices[1].votes, 10u);
  EXPECT_EQ(input->threshold, (Rational{1, 20}));
  EXPECT_EQ(input->threshold_base, seats::VoteBase::kBallotsCast);
  EXPECT_EQ(input->tie_rule, seats::TieRule::kLot);
  EXPECT_EQ(input->tie_seed, "kz-2023");
}

TEST(ContestAllocation, NoVotesYetIsAStatusNotAnError) {
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(PartyList(), v1::Totals());
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_NO_VOTES);
  for (const v1::ChoiceSeats& choice : allocation->choices()) {
    EXPECT_EQ(choice.seats(), 0u);
  }
}

TEST(ContestAllocation, AgainstAllPrevailingInADistrict) {
  v1::Contest contest;
  contest.set_id("smd-01");
  contest.set_kind(v1::CONTEST_KIND_SINGLE_MANDATE);
  contest.set_seats(1);
  contest.mutable_rule()->set_method(v1::ALLOCATION_METHOD_PLURALITY);
  for (const char* id : {"a", "b"}) contest.add_choices()->set_id(id);
  v1::Totals totals;
  totals.add_choices()->set_choice_id("a");
  totals.mutable_choices(0)->set_votes(100);
  totals.add_choices()->set_choice_id("b");
  totals.mutable_choices(1)->set_votes(90);
  totals.set_against_all(150);
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(contest, totals);
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_AGAINST_ALL_PREVAILED);
  EXPECT_EQ(SeatsOf(*allocation, "a"), 0u);

  totals.set_against_all(50);
  allocation = AllocateContest(contest, totals);
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_ALLOCATED);
  EXPECT_EQ(SeatsOf(*allocation, "a"), 1u);
  EXPECT_EQ(allocation->last_seat().winner_choice_id(), "a");
  EXPECT_EQ(allocation->last_seat().runner_up_choice_id(), "b");
}

TEST(ContestAllocation, RunoffChoicesArePublished) {
  v1::Contest contest;
  contest.set_id("president");
  contest.set_kind(v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY);
  contest.set_seats(1);
  contest.mutable_rule()->set_method(v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY);
  contest.mutable_rule()->set_majority_base(v1::VOTE_BASE_BALLOTS_CAST);
  for (const char* id : {"x", "y", "z"}) contest.add_choices()->set_id(id);
  v1::Totals totals;
  const std::pair<const char*, uint64_t> votes[] = {
      {"x", 400}, {"y", 350}, {"z", 250}};
  for (const auto& [id, count] : votes) {
    v1::ChoiceTotal* choice = totals.add_choices();
    choice->set_choice_id(id);
    choice->set_votes(count);
  }
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(contest, totals);
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_RUNOFF_REQUIRED);
  EXPECT_THAT(allocation->runoff_choice_ids(),
              ::testing::ElementsAre("x", "y"));
}

TEST(ContestAllocation, ErrorsNameTheContest) {
  v1::Contest contest = PartyList();
  contest.mutable_rule()->set_method(v1::ALLOCATION_METHOD_UNSPECIFIED);
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(contest, Official2023());
  ASSERT_FALSE(allocation.ok());
  EXPECT_EQ(allocation.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(allocation.status().message(), HasSubstr("contest \"list\""));

  contest = PartyList();
  contest.mutable_rule()->set_threshold_percent("five");
  allocation = AllocateContest(contest, Official2023());
  ASSERT_FALSE(allocation.ok());
  EXPECT_THAT(allocation.status().message(), HasSubstr("threshold_percent"));
}

TEST(ContestAllocation, RationalToProtoIsReducedWithDisplayDecimal) {
  const v1::Rational half = ToProto(Rational{50, 100});
  EXPECT_EQ(half.numerator(), 1u);
  EXPECT_EQ(half.denominator(), 2u);
  EXPECT_EQ(half.decimal(), "0.500000");
}

}  // namespace
}  // namespace tally
