// The published percentages: each base's votes, exact unreduced shares,
// zero bases, and the 2023 official figures from the official counts.
#include "services/domain/vote_shares.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "services/domain/rational.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/results.pb.h"

namespace tally {
namespace {

v1::Contest ListContest(v1::VoteBase base, bool against_all_on_ballot) {
  v1::Contest contest;
  contest.set_id("list");
  contest.set_kind(v1::CONTEST_KIND_PARTY_LIST);
  contest.mutable_rule()->set_share_base(base);
  contest.set_against_all_on_ballot(against_all_on_ballot);
  return contest;
}

// Choices a = 600, b = 300, c = 0; against all 60, invalid 40.
v1::Totals SmallTotals() {
  v1::Totals totals;
  totals.set_contest_id("list");
  for (const auto& [id, votes] : std::vector<std::pair<std::string, uint64_t>>{
           {"a", 600}, {"b", 300}, {"c", 0}}) {
    v1::ChoiceTotal* choice = totals.add_choices();
    choice->set_choice_id(id);
    choice->set_votes(votes);
  }
  totals.set_against_all(60);
  totals.set_invalid(40);
  totals.set_ballots_cast(1000);
  return totals;
}

void ExpectShare(const v1::Rational& share, uint64_t numerator,
                 uint64_t denominator, const std::string& decimal) {
  EXPECT_EQ(share.numerator(), numerator);
  EXPECT_EQ(share.denominator(), denominator);
  EXPECT_EQ(share.decimal(), decimal);
}

TEST(ShareBaseVotes, AddsTheLinesOfEachBase) {
  const v1::Totals totals = SmallTotals();
  EXPECT_EQ(ShareBaseVotes(v1::VOTE_BASE_LIST_VOTES, totals), 900u);
  EXPECT_EQ(ShareBaseVotes(v1::VOTE_BASE_UNSPECIFIED, totals), 900u);
  EXPECT_EQ(ShareBaseVotes(v1::VOTE_BASE_VALID_VOTES, totals), 960u);
  EXPECT_EQ(ShareBaseVotes(v1::VOTE_BASE_BALLOTS_CAST, totals), 1000u);
}

TEST(ShareBaseVotes, ASumBeyond64BitsIsNoBase) {
  v1::Totals totals = SmallTotals();
  totals.mutable_choices(0)->set_votes(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ShareBaseVotes(v1::VOTE_BASE_LIST_VOTES, totals), std::nullopt);
  SetShares(ListContest(v1::VOTE_BASE_LIST_VOTES, true), &totals);
  for (const v1::ChoiceTotal& choice : totals.choices()) {
    EXPECT_FALSE(choice.has_share()) << choice.choice_id();
  }
}

TEST(SetShares, ListVotes) {
  v1::Totals totals = SmallTotals();
  SetShares(ListContest(v1::VOTE_BASE_LIST_VOTES, true), &totals);
  EXPECT_EQ(totals.share_base(), v1::VOTE_BASE_LIST_VOTES);
  ExpectShare(totals.choices(0).share(), 600, 900, "0.666667");
  ExpectShare(totals.choices(1).share(), 300, 900, "0.333333");
  ExpectShare(totals.choices(2).share(), 0, 900, "0.000000");
  // Against all is not part of list votes: no share of them.
  EXPECT_FALSE(totals.has_against_all_share());
}

TEST(SetShares, UnspecifiedIsListVotes) {
  v1::Totals totals = SmallTotals();
  SetShares(ListContest(v1::VOTE_BASE_UNSPECIFIED, true), &totals);
  EXPECT_EQ(totals.share_base(), v1::VOTE_BASE_LIST_VOTES);
  ExpectShare(totals.choices(0).share(), 600, 900, "0.666667");
}

TEST(SetShares, ListVotesPlusAgainstAll) {
  v1::Totals totals = SmallTotals();
  SetShares(ListContest(v1::VOTE_BASE_VALID_VOTES, true), &totals);
  EXPECT_EQ(totals.share_base(), v1::VOTE_BASE_VALID_VOTES);
  // Unreduced: 600/960, not 5/8, so every share names the base.
  ExpectShare(totals.choices(0).share(), 600, 960, "0.625000");
  ExpectShare(totals.choices(1).share(), 300, 960, "0.312500");
  ExpectShare(totals.choices(2).share(), 0, 960, "0.000000");
  ExpectShare(totals.against_all_share(), 60, 960, "0.062500");
}

TEST(SetShares, BallotsCast) {
  v1::Totals totals = SmallTotals();
  SetShares(ListContest(v1::VOTE_BASE_BALLOTS_CAST, true), &totals);
  EXPECT_EQ(totals.share_base(), v1::VOTE_BASE_BALLOTS_CAST);
  ExpectShare(totals.choices(0).share(), 600, 1000, "0.600000");
  ExpectShare(totals.choices(1).share(), 300, 1000, "0.300000");
  ExpectShare(totals.against_all_share(), 60, 1000, "0.060000");
}

TEST(SetShares, BallotsCastIsTheSumOfTheLinesNotTheBallotsFound) {
  // With an accepted accounting anomaly the ballots found can differ from
  // the lines; shares stay shares of the lines, like the threshold base.
  v1::Totals totals = SmallTotals();
  totals.set_ballots_cast(990);
  SetShares(ListContest(v1::VOTE_BASE_BALLOTS_CAST, true), &totals);
  ExpectShare(totals.choices(0).share(), 600, 1000, "0.600000");
}

TEST(SetShares, NoAgainstAllOnTheBallotHasNoAgainstAllShare) {
  v1::Totals totals = SmallTotals();
  totals.set_against_all(0);
  SetShares(ListContest(v1::VOTE_BASE_VALID_VOTES, false), &totals);
  ExpectShare(totals.choices(0).share(), 600, 900, "0.666667");
  EXPECT_FALSE(totals.has_against_all_share());
}

TEST(SetShares, ZeroBaseLeavesEveryShareUnset) {
  for (v1::VoteBase base : {v1::VOTE_BASE_LIST_VOTES, v1::VOTE_BASE_VALID_VOTES,
                            v1::VOTE_BASE_BALLOTS_CAST}) {
    v1::Totals totals = SmallTotals();
    for (v1::ChoiceTotal& choice : *totals.mutable_choices()) {
      choice.set_votes(0);
    }
    totals.set_against_all(0);
    totals.set_invalid(0);
    totals.set_ballots_cast(0);
    SetShares(ListContest(base, true), &totals);
    EXPECT_EQ(totals.share_base(), base);
    for (const v1::ChoiceTotal& choice : totals.choices()) {
      EXPECT_FALSE(choice.has_share()) << v1::VoteBase_Name(base);
    }
    EXPECT_FALSE(totals.has_against_all_share()) << v1::VoteBase_Name(base);
  }
}

TEST(SetShares, ListVotesZeroWhileOnlyAgainstAllAndInvalidCounted) {
  v1::Totals totals = SmallTotals();
  for (v1::ChoiceTotal& choice : *totals.mutable_choices()) choice.set_votes(0);
  SetShares(ListContest(v1::VOTE_BASE_LIST_VOTES, true), &totals);
  for (const v1::ChoiceTotal& choice : totals.choices()) {
    EXPECT_FALSE(choice.has_share());
  }
  SetShares(ListContest(v1::VOTE_BASE_VALID_VOTES, true), &totals);
  ExpectShare(totals.choices(0).share(), 0, 60, "0.000000");
  ExpectShare(totals.against_all_share(), 60, 60, "1.000000");
}

TEST(SetShares, RecomputingReplacesEarlierShares) {
  v1::Totals totals = SmallTotals();
  SetShares(ListContest(v1::VOTE_BASE_VALID_VOTES, true), &totals);
  SetShares(ListContest(v1::VOTE_BASE_LIST_VOTES, true), &totals);
  ExpectShare(totals.choices(0).share(), 600, 900, "0.666667");
  EXPECT_FALSE(totals.has_against_all_share());
}

// The official 2023 party-list counts give the commission's percentages:
// shares of party votes + against all (6,366,441), rounded half up to two
// decimals.
TEST(SetShares, Kazakhstan2023OfficialPercentages) {
  const std::vector<std::pair<std::string, uint64_t>> counts = {
      {"amanat", 3431510}, {"auyl", 693938}, {"respublica", 547154},
      {"aq-jol", 535139},  {"qhp", 432920},  {"jsdp", 331058},
      {"baytaq", 146431}};
  v1::Totals totals;
  for (const auto& [id, votes] : counts) {
    v1::ChoiceTotal* choice = totals.add_choices();
    choice->set_choice_id(id);
    choice->set_votes(votes);
  }
  totals.set_against_all(248291);
  totals.set_invalid(155419);
  SetShares(ListContest(v1::VOTE_BASE_VALID_VOTES, true), &totals);
  auto percent = [](const v1::Rational& share) {
    return Rational{share.numerator() * 100, share.denominator()}.ToDecimal(2);
  };
  const std::vector<std::string> official = {"53.90", "10.90", "8.59", "8.41",
                                             "6.80",  "5.20",  "2.30"};
  for (size_t i = 0; i < official.size(); ++i) {
    EXPECT_EQ(totals.choices(static_cast<int>(i)).share().denominator(),
              6366441u);
    EXPECT_EQ(percent(totals.choices(static_cast<int>(i)).share()), official[i])
        << counts[i].first;
  }
  EXPECT_EQ(percent(totals.against_all_share()), "3.90");
  // Of ballots cast, Amanat would be 52.62: not the published figure.
  SetShares(ListContest(v1::VOTE_BASE_BALLOTS_CAST, true), &totals);
  EXPECT_EQ(percent(totals.choices(0).share()), "52.62");
}

TEST(ShareBaseWords, NameTheBase) {
  EXPECT_EQ(ShareBaseWords(ListContest(v1::VOTE_BASE_VALID_VOTES, true)),
            "party votes + against all");
  EXPECT_EQ(ShareBaseWords(ListContest(v1::VOTE_BASE_VALID_VOTES, false)),
            "party votes");
  EXPECT_EQ(ShareBaseWords(ListContest(v1::VOTE_BASE_LIST_VOTES, true)),
            "party votes");
  EXPECT_EQ(ShareBaseWords(ListContest(v1::VOTE_BASE_BALLOTS_CAST, true)),
            "ballots cast");
  v1::Contest district = ListContest(v1::VOTE_BASE_VALID_VOTES, true);
  district.set_kind(v1::CONTEST_KIND_SINGLE_MANDATE);
  EXPECT_EQ(ShareBaseWords(district), "candidate votes + against all");
  district.mutable_rule()->set_share_base(v1::VOTE_BASE_UNSPECIFIED);
  EXPECT_EQ(ShareBaseWords(district), "candidate votes");
}

}  // namespace
}  // namespace tally
