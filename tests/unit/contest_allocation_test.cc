// The bridge from contests and totals (v1 protos) to the seat library and
// back into the published SeatAllocation.
#include "services/domain/contest_allocation.h"

#include <memory>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/domain/protocol_validation.h"
#include "services/domain/totals_book.h"
#include "tests/support/mini_election.h"

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

// --- Published seat ranges: the mini election's smd-1 (plurality; stations
// 101 with 1,000 and 102 with 800 registered, same-day additions 5%). ---

v1::StationProtocol SmdProtocol(uint32_t station, uint64_t x, uint64_t y,
                                uint64_t registered_line) {
  v1::StationProtocol protocol;
  protocol.set_contest_id("smd-1");
  protocol.set_station_id(station);
  protocol.set_version(1);
  v1::ChoiceVotes* line = protocol.add_votes();
  line->set_choice_id("cand-x");
  line->set_votes(x);
  line = protocol.add_votes();
  line->set_choice_id("cand-y");
  line->set_votes(y);
  v1::BallotAccounting& a = *protocol.mutable_accounting();
  a.set_registered_voters(registered_line);
  a.set_ballots_received(x + y);
  a.set_ballots_issued(x + y);
  a.set_ballots_found(x + y);
  return protocol;
}

class PublishedRangesTest : public ::testing::Test {
 protected:
  void Build(const v1::ValidationPolicy& policy) {
    v1::ElectionDefinition definition = testing::MiniElection();
    *definition.mutable_validation() = policy;
    definition.mutable_validation()->set_same_day_additions_basis_points(500);
    absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
        ElectionIndex::Build(std::move(definition));
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = *std::move(index);
    book_ = std::make_unique<TotalsBook>(*index_);
  }
  void Count(const v1::StationProtocol& protocol) {
    const ProtocolVerdict verdict = ValidateProtocol(*index_, protocol);
    ASSERT_TRUE(verdict.accepted()) << verdict.status;
    book_->Apply(nullptr, false, protocol, verdict.has_anomalies());
  }
  v1::SeatAllocation Published() const {
    const ContestInfo* smd = index_->FindContest("smd-1");
    return PublishedAllocation(*smd->contest, index_->definition().validation(),
                               book_->ToProto(book_->ContestEntry(smd->index)));
  }

  std::unique_ptr<ElectionIndex> index_;
  std::unique_ptr<TotalsBook> book_;
};

// The reported observer's case: 101 states a registered line of 1,050 (its
// register plus additions), so "register minus registered lines" left 750
// and called cand-x's lead of 820 certain. Station 102 may still count 840
// ballots (800 + 5%), and a legal protocol doing so elects cand-y.
TEST_F(PublishedRangesTest, RangeCoversSameDayAdditionsOfTheLastStation) {
  Build(v1::ValidationPolicy());
  Count(SmdProtocol(101, 820, 0, 1050));
  const v1::SeatAllocation before = Published();
  EXPECT_EQ(before.range_basis(), v1::RANGE_BASIS_BALLOT_CAP);
  EXPECT_EQ(before.outstanding_ballots(), 840u);
  ASSERT_EQ(before.choices_size(), 2);
  EXPECT_EQ(before.choices(0).seats(), 1u);
  EXPECT_EQ(before.choices(0).min_seats(), 0u);
  EXPECT_EQ(before.choices(0).max_seats(), 1u);
  EXPECT_EQ(before.choices(1).min_seats(), 0u);
  EXPECT_EQ(before.choices(1).max_seats(), 1u);
  EXPECT_FALSE(before.decided());
  EXPECT_EQ(before.seats_open(), 1u);
  EXPECT_EQ(before.decided_winner_choice_id(), "");

  Count(SmdProtocol(102, 0, 840, 840));
  const v1::SeatAllocation after = Published();
  EXPECT_EQ(after.range_basis(), v1::RANGE_BASIS_FINAL);
  EXPECT_EQ(after.outstanding_ballots(), 0u);
  EXPECT_EQ(after.choices(1).seats(), 1u);
  EXPECT_EQ(after.choices(1).min_seats(), 1u);
  EXPECT_EQ(after.choices(1).max_seats(), 1u);
  EXPECT_TRUE(after.decided());
  EXPECT_EQ(after.seats_open(), 0u);
  EXPECT_EQ(after.decided_winner_choice_id(), "cand-y");
  EXPECT_EQ(after.decided_revision(), 0u);  // the aggregator's to set
}

TEST_F(PublishedRangesTest, LeadBeyondTheCapIsCertain) {
  Build(v1::ValidationPolicy());
  Count(SmdProtocol(101, 841, 0, 1000));
  const v1::SeatAllocation allocation = Published();
  EXPECT_EQ(allocation.outstanding_ballots(), 840u);
  EXPECT_EQ(allocation.choices(0).min_seats(), 1u);
  EXPECT_EQ(allocation.choices(1).max_seats(), 0u);
  // Decided with a station still to report: the proof is the ranges, the
  // basis and the outstanding ballots.
  EXPECT_TRUE(allocation.provisional());
  EXPECT_TRUE(allocation.decided());
  EXPECT_EQ(allocation.seats_open(), 0u);
  EXPECT_EQ(allocation.decided_winner_choice_id(), "cand-x");
}

// With a ballot-bounding rule set to ANOMALY validation accepts any number
// of ballots from 102: nothing is certain until it reports.
TEST_F(PublishedRangesTest, AnomalyRuleLeavesTheOutstandingUnbounded) {
  for (int rule = 0; rule < 3; ++rule) {
    v1::ValidationPolicy policy;
    if (rule == 0) policy.set_votes_sum(v1::SEVERITY_ANOMALY);
    if (rule == 1) policy.set_found_le_issued(v1::SEVERITY_ANOMALY);
    if (rule == 2) policy.set_issued_le_registered(v1::SEVERITY_ANOMALY);
    Build(policy);
    Count(SmdProtocol(101, 1000, 0, 1000));
    const v1::SeatAllocation allocation = Published();
    EXPECT_EQ(allocation.range_basis(), v1::RANGE_BASIS_UNBOUNDED) << rule;
    EXPECT_EQ(allocation.outstanding_ballots(), 0u) << rule;
    for (const v1::ChoiceSeats& choice : allocation.choices()) {
      EXPECT_EQ(choice.min_seats(), 0u) << rule;
      EXPECT_EQ(choice.max_seats(), 1u) << rule;
    }
    // A lead of 1,000 with 800 registered still to report decides nothing
    // when validation does not cap what 102 may count.
    EXPECT_FALSE(allocation.decided()) << rule;
    EXPECT_EQ(allocation.seats_open(), 1u) << rule;
  }
}

// The rules that never bound the counted ballots keep the cap.
TEST_F(PublishedRangesTest, OtherAnomalyRulesKeepTheCap) {
  v1::ValidationPolicy policy;
  policy.set_issued_le_received(v1::SEVERITY_ANOMALY);
  policy.set_unused_balance(v1::SEVERITY_ANOMALY);
  policy.set_registered_matches(v1::SEVERITY_ANOMALY);
  Build(policy);
  // An inflated registered line (flagged, accepted) changes nothing.
  Count(SmdProtocol(101, 841, 0, 5000));
  const v1::SeatAllocation allocation = Published();
  EXPECT_EQ(allocation.range_basis(), v1::RANGE_BASIS_BALLOT_CAP);
  EXPECT_EQ(allocation.outstanding_ballots(), 840u);
  EXPECT_EQ(allocation.choices(0).min_seats(), 1u);
}

}  // namespace
}  // namespace tally
