// The published elections of deploy/elections in the domain's own terms:
// each spec expands into a valid definition with the official station
// count and registered voters, and the official result file, counted as
// national totals, gives exactly the official seats (or winner) and the
// published percentages. A presidential count without an absolute majority
// of the ballots cast requires a runoff of the top two.
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/contest_allocation.h"
#include "services/domain/definition_generator.h"
#include "services/domain/proto_json.h"
#include "services/domain/rational.h"
#include "services/domain/vote_shares.h"
#include "tally/v1/tools.pb.h"

namespace tally {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string ReadSource(const std::string& path) {
  std::ifstream in(std::string(TALLY_SOURCE_DIR) + "/" + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The official station count and registered voters of each election.
struct Official {
  int stations;
  uint64_t registered_voters;
};
const std::map<std::string, Official>& OfficialFigures() {
  static const auto* figures = new std::map<std::string, Official>{
      {"kz-2021", {10061, 11919241}}, {"kz-2022", {10101, 11953465}}};
  return *figures;
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

class OfficialResultFiles : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<v1::DefinitionSpec> spec = ParseDefinitionSpecJson(
        ReadSource("deploy/elections/" + GetParam() + ".spec.json"));
    ASSERT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<v1::ElectionDefinition> definition =
        GenerateDefinition(*spec);
    ASSERT_TRUE(definition.ok()) << definition.status();
    definition_ = *std::move(definition);
    ASSERT_TRUE(
        ParseJson(ReadSource("deploy/elections/" + GetParam() + ".result.json"),
                  &result_)
            .ok());
    for (const v1::Contest& contest : definition_.contests()) {
      if (contest.id() == result_.contest_id()) contest_ = contest;
    }
    ASSERT_EQ(contest_.id(), result_.contest_id());
  }

  // The official result as final national totals of its contest.
  v1::Totals OfficialTotals() const {
    v1::Totals totals;
    totals.set_contest_id(contest_.id());
    totals.mutable_scope()->set_kind(v1::SCOPE_KIND_NATIONAL);
    for (const v1::Choice& choice : contest_.choices()) {
      v1::ChoiceTotal* total = totals.add_choices();
      total->set_choice_id(choice.id());
      total->set_votes(result_.votes().at(choice.id()));
    }
    totals.set_against_all(result_.against_all());
    totals.set_invalid(result_.invalid());
    totals.set_stations_expected(definition_.stations_size());
    totals.set_stations_reported(definition_.stations_size());
    return totals;
  }

  v1::ElectionDefinition definition_;
  v1::ResultTarget result_;
  v1::Contest contest_;
};

TEST_P(OfficialResultFiles, DefinitionHasTheOfficialStationsAndVoters) {
  const Official& official = OfficialFigures().at(GetParam());
  EXPECT_EQ(definition_.stations_size(), official.stations);
  uint64_t registered = 0;
  for (const v1::PollingStation& station : definition_.stations()) {
    registered += station.registered_voters();
  }
  EXPECT_EQ(registered, official.registered_voters);
  // Every choice of the contest has official votes and a percentage.
  EXPECT_EQ(result_.votes_size(), contest_.choices_size());
  EXPECT_EQ(result_.percent_size(), contest_.choices_size());
  uint64_t found = result_.against_all() + result_.invalid();
  for (const auto& [choice, votes] : result_.votes()) found += votes;
  EXPECT_EQ(found, result_.ballots_issued());
}

TEST_P(OfficialResultFiles, OfficialCountGivesTheOfficialSeats) {
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(contest_, OfficialTotals());
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_ALLOCATED);
  EXPECT_FALSE(allocation->provisional());
  std::map<std::string, uint32_t> seats;
  for (const v1::ChoiceSeats& choice : allocation->choices()) {
    if (choice.seats() > 0) seats[choice.choice_id()] = choice.seats();
  }
  const std::map<std::string, uint32_t> official(result_.seats().begin(),
                                                 result_.seats().end());
  EXPECT_EQ(seats, official);
}

TEST_P(OfficialResultFiles, SharesRoundToThePublishedPercentages) {
  v1::Totals totals = OfficialTotals();
  SetShares(contest_, &totals);
  auto percent = [](const v1::Rational& share, const std::string& like) {
    const size_t point = like.find('.');
    const int digits = point == std::string::npos
                           ? 0
                           : static_cast<int>(like.size() - point - 1);
    return Rational{share.numerator() * 100, share.denominator()}.ToDecimal(
        digits);
  };
  for (const v1::ChoiceTotal& choice : totals.choices()) {
    ASSERT_TRUE(choice.has_share()) << choice.choice_id();
    const std::string& official = result_.percent().at(choice.choice_id());
    EXPECT_EQ(percent(choice.share(), official), official)
        << choice.choice_id();
  }
  if (contest_.against_all_on_ballot()) {
    ASSERT_TRUE(totals.has_against_all_share());
    EXPECT_EQ(
        percent(totals.against_all_share(), result_.against_all_percent()),
        result_.against_all_percent());
  } else {
    EXPECT_FALSE(totals.has_against_all_share());
    EXPECT_TRUE(result_.against_all_percent().empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Elections, OfficialResultFiles,
                         ::testing::Values("kz-2021", "kz-2022"), TestName);

// The 2022 presidential contest: the majority is of the ballots cast, the
// percentages of the votes for candidates plus against all.
class PresidentialMajority : public OfficialResultFiles {
 protected:
  v1::Totals Count(const std::map<std::string, uint64_t>& votes,
                   uint64_t against_all, uint64_t invalid) const {
    v1::Totals totals = OfficialTotals();
    for (v1::ChoiceTotal& choice : *totals.mutable_choices()) {
      choice.set_votes(votes.at(choice.choice_id()));
    }
    totals.set_against_all(against_all);
    totals.set_invalid(invalid);
    return totals;
  }
};

TEST_P(PresidentialMajority, NoMajorityOfBallotsCastRequiresARunoff) {
  // 4,000,000 is 50.37% of the votes for candidates and against all
  // (7,940,477) but 48.19% of the 8,300,046 ballots cast.
  const v1::Totals totals = Count({{"tokayev", 4000000},
                                   {"dairabayev", 1500000},
                                   {"abden", 900000},
                                   {"kazhyken", 700000},
                                   {"auesbayev", 400000},
                                   {"tursynbekova", 300000}},
                                  140477, 359569);
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(contest_, totals);
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_RUNOFF_REQUIRED);
  EXPECT_THAT(allocation->runoff_choice_ids(),
              ElementsAre("tokayev", "dairabayev"));
  for (const v1::ChoiceSeats& choice : allocation->choices()) {
    EXPECT_EQ(choice.seats(), 0u) << choice.choice_id();
  }
}

TEST_P(PresidentialMajority, RunoffPairFollowsTheVotesNotTheBallotOrder) {
  const v1::Totals totals = Count({{"tokayev", 1000000},
                                   {"dairabayev", 900000},
                                   {"abden", 2500000},
                                   {"kazhyken", 300000},
                                   {"auesbayev", 2600000},
                                   {"tursynbekova", 100000}},
                                  100000, 50000);
  absl::StatusOr<v1::SeatAllocation> allocation =
      AllocateContest(contest_, totals);
  ASSERT_TRUE(allocation.ok()) << allocation.status();
  EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_RUNOFF_REQUIRED);
  EXPECT_THAT(allocation->runoff_choice_ids(),
              ElementsAre("auesbayev", "abden"));
}

TEST_P(PresidentialMajority, MoreThanHalfOfBallotsCastIsNeeded) {
  // 8,300,046 ballots cast: exactly half is not enough, one vote more is.
  const std::map<std::string, uint64_t> others = {{"dairabayev", 1500000},
                                                  {"abden", 900000},
                                                  {"kazhyken", 700000},
                                                  {"auesbayev", 400000},
                                                  {"tursynbekova", 300000}};
  for (const uint64_t leader : {uint64_t{4150023}, uint64_t{4150024}}) {
    std::map<std::string, uint64_t> votes = others;
    votes["tokayev"] = leader;
    const uint64_t invalid = 8300046 - leader - 3800000 - 150022;
    absl::StatusOr<v1::SeatAllocation> allocation =
        AllocateContest(contest_, Count(votes, 150022, invalid));
    ASSERT_TRUE(allocation.ok()) << allocation.status();
    if (leader == 4150023) {
      EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_RUNOFF_REQUIRED);
      EXPECT_THAT(allocation->runoff_choice_ids(),
                  ElementsAre("tokayev", "dairabayev"));
    } else {
      EXPECT_EQ(allocation->status(), v1::ALLOCATION_STATUS_ALLOCATED);
      EXPECT_THAT(allocation->runoff_choice_ids(), IsEmpty());
      for (const v1::ChoiceSeats& choice : allocation->choices()) {
        EXPECT_EQ(choice.seats(), choice.choice_id() == "tokayev" ? 1u : 0u)
            << choice.choice_id();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Elections, PresidentialMajority,
                         ::testing::Values("kz-2022"), TestName);

}  // namespace
}  // namespace tally
