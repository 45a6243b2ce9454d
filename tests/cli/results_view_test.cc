// The tables of tallyctl results and watch: the percentages are the shares
// the totals carry, and each table names their base.
#include "clients/tallyctl/results_view.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/vote_shares.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/results.pb.h"

namespace tally::cli {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::pair<std::string, uint64_t>> kOfficial2023 = {
    {"amanat", 3431510}, {"auyl", 693938}, {"respublica", 547154},
    {"aq-jol", 535139},  {"qhp", 432920},  {"jsdp", 331058},
    {"baytaq", 146431}};

v1::ElectionDefinition Definition(v1::VoteBase share_base) {
  v1::ElectionDefinition definition;
  v1::Contest* contest = definition.add_contests();
  contest->set_id("mazhilis-list");
  contest->set_name("Mazhilis, national party list");
  contest->set_kind(v1::CONTEST_KIND_PARTY_LIST);
  contest->set_seats(69);
  contest->set_against_all_on_ballot(true);
  contest->mutable_rule()->set_share_base(share_base);
  for (const auto& [id, votes] : kOfficial2023) {
    v1::Choice* choice = contest->add_choices();
    choice->set_id(id);
    choice->set_name(id == "amanat" ? "Amanat" : id);
  }
  return definition;
}

// The totals as the aggregator publishes them: counts, then the shares of
// the contest's base.
v1::Totals Totals(const v1::ElectionDefinition& definition, bool counted) {
  v1::Totals totals;
  totals.set_contest_id("mazhilis-list");
  totals.mutable_scope()->set_kind(v1::SCOPE_KIND_NATIONAL);
  for (const auto& [id, votes] : kOfficial2023) {
    v1::ChoiceTotal* choice = totals.add_choices();
    choice->set_choice_id(id);
    choice->set_votes(counted ? votes : 0);
  }
  if (counted) {
    totals.set_against_all(248291);
    totals.set_invalid(155419);
    totals.set_ballots_cast(6521860);
  }
  SetShares(definition.contests(0), &totals);
  return totals;
}

TEST(RenderContest, ShowsTheOfficialPercentagesAndNamesTheirBase) {
  const v1::ElectionDefinition definition =
      Definition(v1::VOTE_BASE_VALID_VOTES);
  const ElectionNames names(definition);
  const std::string table =
      RenderContest(names, Totals(definition, true), nullptr);
  EXPECT_THAT(table, HasSubstr("% of party votes + against all (6,366,441)"));
  EXPECT_THAT(table, ContainsRegex("Amanat +3,431,510 +53\\.90\n"));
  EXPECT_THAT(table, ContainsRegex("auyl +693,938 +10\\.90\n"));
  EXPECT_THAT(table, ContainsRegex("respublica +547,154 +8\\.59\n"));
  EXPECT_THAT(table, ContainsRegex("aq-jol +535,139 +8\\.41\n"));
  EXPECT_THAT(table, ContainsRegex("qhp +432,920 +6\\.80\n"));
  EXPECT_THAT(table, ContainsRegex("jsdp +331,058 +5\\.20\n"));
  EXPECT_THAT(table, ContainsRegex("baytaq +146,431 +2\\.30\n"));
  EXPECT_THAT(table, ContainsRegex("against all +248,291 +3\\.90\n"));
  // Not the share of ballots cast.
  EXPECT_THAT(table, Not(HasSubstr("52.62")));
  EXPECT_THAT(RenderContestLine(names, Totals(definition, true), nullptr),
              HasSubstr("Amanat 53.90%"));
}

TEST(RenderContest, FollowsTheBaseTheTotalsCarry) {
  const v1::ElectionDefinition definition =
      Definition(v1::VOTE_BASE_BALLOTS_CAST);
  const ElectionNames names(definition);
  const std::string table =
      RenderContest(names, Totals(definition, true), nullptr);
  EXPECT_THAT(table, HasSubstr("% of ballots cast (6,521,860)"));
  EXPECT_THAT(table, ContainsRegex("Amanat +3,431,510 +52\\.62\n"));
}

TEST(RenderContest, ListVotesGiveAgainstAllNoShare) {
  const v1::ElectionDefinition definition =
      Definition(v1::VOTE_BASE_LIST_VOTES);
  const ElectionNames names(definition);
  const std::string table =
      RenderContest(names, Totals(definition, true), nullptr);
  EXPECT_THAT(table, HasSubstr("% of party votes (6,118,150)"));
  EXPECT_THAT(table, ContainsRegex("Amanat +3,431,510 +56\\.09\n"));
  EXPECT_THAT(table, ContainsRegex("against all +248,291 *\n"));
}

TEST(RenderContest, NoVotesYetShowsNoPercentages) {
  const v1::ElectionDefinition definition =
      Definition(v1::VOTE_BASE_VALID_VOTES);
  const ElectionNames names(definition);
  const std::string table =
      RenderContest(names, Totals(definition, false), nullptr);
  EXPECT_THAT(table, HasSubstr("% of party votes + against all\n"));
  EXPECT_THAT(table, ContainsRegex("Amanat +0 +-\n"));
  EXPECT_THAT(table, ContainsRegex("against all +0 +-\n"));
}

TEST(RenderComposition, ListsSeatsByPartyWithListAndDistrictParts) {
  v1::ChamberComposition composition;
  composition.set_seats(98);
  composition.set_allocated_seats(98);
  v1::PartySeats* amanat = composition.add_parties();
  amanat->set_party_id("amanat");
  amanat->set_name("Amanat");
  amanat->set_list_seats(40);
  amanat->set_district_seats(22);
  amanat->set_seats(62);
  v1::PartySeats* self = composition.add_parties();
  self->set_self_nominated(true);
  self->set_name("Self-nominated");
  self->set_district_seats(7);
  self->set_seats(7);
  const std::string table = RenderComposition(composition);
  EXPECT_THAT(table, HasSubstr("Chamber composition: 98 of 98 seats "
                               "allocated (final)\n"));
  EXPECT_THAT(table, ContainsRegex("party +list +districts +seats\n"));
  EXPECT_THAT(table, ContainsRegex("Amanat +40 +22 +62\n"));
  EXPECT_THAT(table, ContainsRegex("Self-nominated +0 +7 +7\n"));

  composition.set_provisional(true);
  composition.set_allocated_seats(70);
  EXPECT_THAT(RenderComposition(composition),
              HasSubstr("70 of 98 seats allocated (provisional)"));
}

// A provisional allocation of the list: amanat's 40 seats certain, the
// rest open until `decided`.
v1::SeatAllocation ListAllocation(bool decided) {
  v1::SeatAllocation allocation;
  allocation.set_contest_id("mazhilis-list");
  allocation.mutable_scope()->set_kind(v1::SCOPE_KIND_NATIONAL);
  allocation.set_seats(69);
  allocation.set_status(v1::ALLOCATION_STATUS_ALLOCATED);
  allocation.set_provisional(true);
  allocation.set_range_basis(v1::RANGE_BASIS_BALLOT_CAP);
  allocation.set_outstanding_ballots(123456);
  allocation.set_revision(812);
  v1::ChoiceSeats* amanat = allocation.add_choices();
  amanat->set_choice_id("amanat");
  amanat->set_seats(40);
  amanat->set_min_seats(40);
  amanat->set_max_seats(40);
  amanat->set_passed_threshold(true);
  v1::ChoiceSeats* auyl = allocation.add_choices();
  auyl->set_choice_id("auyl");
  auyl->set_seats(29);
  auyl->set_min_seats(decided ? 29 : 25);
  auyl->set_max_seats(29);
  auyl->set_passed_threshold(true);
  allocation.set_decided(decided);
  allocation.set_seats_open(decided ? 0 : 4);
  allocation.set_decided_revision(decided ? 790 : 0);
  return allocation;
}

TEST(RenderContest, SaysWhichSeatsAreDecidedAndHowManyAreOpen) {
  const v1::ElectionDefinition definition =
      Definition(v1::VOTE_BASE_VALID_VOTES);
  const ElectionNames names(definition);
  const v1::Totals totals = Totals(definition, true);

  const v1::SeatAllocation open = ListAllocation(false);
  std::string table = RenderContest(names, totals, &open);
  EXPECT_THAT(table, HasSubstr(", PROVISIONAL\n"));
  EXPECT_THAT(table,
              ContainsRegex("Amanat +3,431,510 +[0-9.]+ +40  decided\n"));
  EXPECT_THAT(table, ContainsRegex("auyl +693,938 +[0-9.]+ +29  25-29\n"));
  EXPECT_THAT(table, HasSubstr("seats still open: 4 of 69 (123,456 ballots "
                               "outstanding)\n"));

  const v1::SeatAllocation decided = ListAllocation(true);
  table = RenderContest(names, totals, &decided);
  EXPECT_THAT(table, HasSubstr(", PROVISIONAL, DECIDED at revision 790\n"));
  EXPECT_THAT(table, HasSubstr("decided at revision 790 (every seat certain "
                               "with 123,456 ballots outstanding)\n"));
  EXPECT_THAT(RenderContestLine(names, totals, &decided),
              HasSubstr("reported, decided\n"));
  EXPECT_THAT(RenderContestLine(names, totals, &open),
              Not(HasSubstr("decided")));

  EXPECT_EQ(RenderDecisionSummary(names, {&open, &decided}),
            "Decided: 1 of 2 contests; seats still open: 4 of 138\n");

  v1::Progress progress;
  progress.set_stations_reported(5155);
  progress.set_stations_expected(10310);
  EXPECT_EQ(RenderDecidedChange(names, decided, progress),
            "revision 790: Mazhilis, national party list [mazhilis-list] "
            "decided, with 50.00% of stations reported\n");
  EXPECT_THAT(RenderDecidedChange(names, open, progress),
              HasSubstr("no longer decided"));
}

}  // namespace
}  // namespace tally::cli
