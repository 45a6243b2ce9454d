// The election forensics statistics (services/domain/forensics.h): exact
// bookkeeping under corrections, the derived figures, and the flags.

#include "services/domain/forensics.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/domain/totals_book.h"
#include "tests/support/mini_election.h"

namespace tally {
namespace {

using ::testing::Contains;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::Not;

// A protocol of the "list" contest: `issued` ballots, all found and valid,
// split between party-a, party-b and party-c.
v1::StationProtocol ListProtocol(uint32_t station, uint32_t version,
                                 uint64_t registered, uint64_t a, uint64_t b,
                                 uint64_t c) {
  v1::StationProtocol protocol;
  protocol.set_contest_id("list");
  protocol.set_station_id(station);
  protocol.set_version(version);
  v1::BallotAccounting& lines = *protocol.mutable_accounting();
  lines.set_registered_voters(registered);
  lines.set_ballots_received(registered);
  lines.set_ballots_issued(a + b + c);
  lines.set_ballots_found(a + b + c);
  const std::pair<const char*, uint64_t> votes[] = {
      {"party-a", a}, {"party-b", b}, {"party-c", c}};
  for (const auto& [id, count] : votes) {
    v1::ChoiceVotes& line = *protocol.add_votes();
    line.set_choice_id(id);
    line.set_votes(count);
  }
  return protocol;
}

// `stations` stations of one region and district, ids from 1001.
testing::MiniLayout ManyStations(int stations, uint64_t registered) {
  testing::MiniLayout layout;
  layout.districts = {{"d-1", "r-north"}, {"d-2", "r-south"}};
  for (int i = 0; i < stations; ++i) {
    layout.stations.push_back(testing::MiniStation{
        static_cast<uint32_t>(1001 + i), "r-north", "d-1", registered});
  }
  layout.stations.push_back(
      testing::MiniStation{9001, "r-south", "d-2", registered});
  layout.district_contests = false;
  return layout;
}

class ForensicsTest : public ::testing::Test {
 protected:
  void Build(const testing::MiniLayout& layout) {
    absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
        ElectionIndex::Build(testing::MiniElection(layout));
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = *std::move(index);
    totals_ = std::make_unique<TotalsBook>(*index_);
  }
  // The national entry of the list.
  uint32_t National() const {
    return totals_->ContestEntry(index_->FindContest("list")->index);
  }
  const v1::Contest& List() const {
    return *index_->FindContest("list")->contest;
  }

  std::unique_ptr<ElectionIndex> index_;
  std::unique_ptr<TotalsBook> totals_;
};

TEST(IntegerPercentChanceTest, CountsTheNearestCountsOfWholePercentages) {
  // Up to 100 voters, every count is nearest to some whole percentage.
  EXPECT_EQ(IntegerPercentChance(3), kProbabilityOne);
  EXPECT_EQ(IntegerPercentChance(100), kProbabilityOne);
  // Above, 101 of the n + 1 counts are.
  EXPECT_EQ(IntegerPercentChance(2000), (int64_t{101} << 32) / 2001);
  EXPECT_EQ(IntegerPercentChance(1003), (int64_t{101} << 32) / 1004);
  EXPECT_EQ(IntegerPercentChance(0), 0);
}

TEST(SecondDigitTest, BenfordCountsPassAndAOneDigitPileFails) {
  ChoiceForensics benford;
  // Benford's second-digit law, per 10,000 counts.
  benford.second_digits = {1197, 1139, 1088, 1043, 1003,
                           967,  934,  904,  876,  850};
  EXPECT_LT(benford.SecondDigitChiSquare(), 0.1);
  ChoiceForensics piled;
  piled.second_digits = {0, 0, 0, 0, 0, 500, 0, 0, 0, 0};
  EXPECT_GT(piled.SecondDigitChiSquare(), 1000.0);
}

TEST_F(ForensicsTest, CorrectionTakesTheOldVersionOut) {
  Build(testing::MiniLayout::Standard());
  ForensicsBook corrected(*totals_);
  ForensicsBook direct(*totals_);
  // Station 101 first reports a stuffed protocol, then its real count.
  const v1::StationProtocol stuffed = ListProtocol(101, 1, 1000, 950, 20, 10);
  const v1::StationProtocol real = ListProtocol(101, 2, 1000, 300, 200, 113);
  corrected.Apply(nullptr, ListProtocol(102, 1, 800, 211, 190, 77));
  corrected.Apply(nullptr, stuffed);
  corrected.Apply(nullptr, ListProtocol(201, 1, 1200, 600, 100, 39));
  corrected.Apply(&stuffed, real);
  ASSERT_NE(corrected.entry(National()), direct.entry(National()));

  direct.Apply(nullptr, ListProtocol(201, 1, 1200, 600, 100, 39));
  direct.Apply(nullptr, real);
  direct.Apply(nullptr, ListProtocol(102, 1, 800, 211, 190, 77));
  for (uint32_t e = 0; e < direct.size(); ++e) {
    EXPECT_EQ(corrected.entry(e), direct.entry(e)) << "entry " << e;
  }
  const ScopeForensics& national = direct.entry(National());
  EXPECT_EQ(national.stations, 3u);
  EXPECT_EQ(national.full_turnout, 0u);
  EXPECT_EQ(national.choices[0].votes, 1111u);
  EXPECT_EQ(national.choices[0].stations_95, 0u);
  EXPECT_EQ(national.Leader(), 0u);
  // 300 / 613 of 101 is in the 48% share bin, 613 / 1000 turnout in 61%.
  EXPECT_EQ(national.choices[0].fingerprint.at(61 * kFingerprintBins + 48),
            613u);
}

TEST_F(ForensicsTest, CleanStationsRaiseNoFlag) {
  Build(ManyStations(200, 1000));
  ForensicsBook book(*totals_);
  // Turnouts and shares spread over non-round values, with no relation
  // between turnout and share.
  for (int i = 0; i < 200; ++i) {
    const uint64_t registered = 1003 + static_cast<uint64_t>(i % 17) * 11;
    const uint64_t issued = 411 + static_cast<uint64_t>((i * 37) % 233);
    // A share between 47.0% and 59.9%, to the permille.
    const uint64_t a =
        issued * (470 + static_cast<uint64_t>((i * 7919) % 130)) / 1000;
    const uint64_t b = (issued - a) * 3 / 5;
    book.Apply(nullptr, ListProtocol(static_cast<uint32_t>(1001 + i), 1,
                                     registered, a, b, issued - a - b));
  }
  const std::vector<ForensicsFlag> flags =
      EvaluateForensics(book.entry(National()), List());
  for (ForensicsFlagKind kind :
       {ForensicsFlagKind::kIntegerTurnout, ForensicsFlagKind::kIntegerShare,
        ForensicsFlagKind::kTurnoutShareSlope, ForensicsFlagKind::kFullTurnout,
        ForensicsFlagKind::kUnanimousStations}) {
    EXPECT_THAT(flags, Not(Contains(Field(&ForensicsFlag::kind, kind))))
        << static_cast<int>(kind);
  }
}

TEST_F(ForensicsTest, RoundNumbersAreFlagged) {
  Build(ManyStations(100, 2000));
  ForensicsBook book(*totals_);
  // Every turnout 60% and every party-a share 60%: written, not counted.
  for (int i = 0; i < 100; ++i) {
    book.Apply(nullptr, ListProtocol(static_cast<uint32_t>(1001 + i), 1, 2000,
                                     720, 300 + static_cast<uint64_t>(i),
                                     180 - static_cast<uint64_t>(i)));
  }
  const ScopeForensics& national = book.entry(National());
  EXPECT_EQ(national.integer_turnout.observed, 100u);
  EXPECT_NEAR(national.integer_turnout.ExpectedCount(), 100 * 101.0 / 2001,
              1e-6);
  EXPECT_GT(national.integer_turnout.ZScore(), 20);
  const std::vector<ForensicsFlag> flags = EvaluateForensics(national, List());
  // Written-in counts break the second-digit law too (party-a's is always
  // 720).
  ASSERT_EQ(flags.size(), 3u);
  EXPECT_EQ(flags[0].kind, ForensicsFlagKind::kIntegerTurnout);
  EXPECT_EQ(flags[0].severity, ForensicsSeverity::kStrong);
  EXPECT_EQ(flags[0].choice_id, "");
  EXPECT_THAT(flags[0].message, ::testing::HasSubstr("100 of 100 stations"));
  EXPECT_EQ(flags[1].kind, ForensicsFlagKind::kIntegerShare);
  EXPECT_EQ(flags[1].choice_id, "party-a");
  EXPECT_EQ(flags[2].kind, ForensicsFlagKind::kSecondDigit);
  EXPECT_EQ(flags[2].choice_id, "party-a");
}

TEST_F(ForensicsTest, StuffingRaisesTheSlopeAndTheFullTurnouts) {
  Build(ManyStations(100, 1000));
  ForensicsBook book(*totals_);
  // Extra ballots for party-a: the more added, the higher both turnout and
  // party-a's share; ten stations are filled to the register.
  for (int i = 0; i < 100; ++i) {
    const uint64_t added = i < 90 ? static_cast<uint64_t>(i) * 5 : 550;
    book.Apply(nullptr, ListProtocol(static_cast<uint32_t>(1001 + i), 1, 1000,
                                     101 + added, 199, 150));
  }
  const ScopeForensics& national = book.entry(National());
  EXPECT_EQ(national.full_turnout, 10u);
  const std::optional<Regression> fit =
      national.choices[0].TurnoutShareRegression();
  ASSERT_TRUE(fit.has_value());
  // Least squares of these stations: slope 0.733, correlation 0.975.
  EXPECT_NEAR(fit->slope, 0.733, 0.001);
  EXPECT_NEAR(fit->correlation, 0.975, 0.001);
  const std::vector<ForensicsFlag> flags = EvaluateForensics(national, List());
  EXPECT_THAT(flags, Contains(Field(&ForensicsFlag::kind,
                                    ForensicsFlagKind::kTurnoutShareSlope)));
  EXPECT_THAT(flags, Contains(Field(&ForensicsFlag::kind,
                                    ForensicsFlagKind::kFullTurnout)));
}

TEST_F(ForensicsTest, NearUnanimousStationsAreFlagged) {
  Build(ManyStations(50, 1000));
  ForensicsBook book(*totals_);
  for (int i = 0; i < 50; ++i) {
    const bool unanimous = i < 5;
    book.Apply(nullptr,
               ListProtocol(static_cast<uint32_t>(1001 + i), 1, 1000,
                            unanimous ? 577 : 301, unanimous ? 11 : 200,
                            unanimous ? 10 : 90));
  }
  const ScopeForensics& national = book.entry(National());
  EXPECT_EQ(national.choices[0].stations_95, 5u);
  const std::vector<ForensicsFlag> flags = EvaluateForensics(national, List());
  ASSERT_THAT(flags, Contains(Field(&ForensicsFlag::kind,
                                    ForensicsFlagKind::kUnanimousStations)));
}

TEST_F(ForensicsTest, EmptyBookHasNoLeaderAndNoFlags) {
  Build(testing::MiniLayout::Standard());
  ForensicsBook book(*totals_);
  EXPECT_FALSE(book.entry(National()).Leader().has_value());
  EXPECT_THAT(EvaluateForensics(book.entry(National()), List()), IsEmpty());
}

}  // namespace
}  // namespace tally
