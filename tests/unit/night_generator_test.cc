#include "clients/simulator/night_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/contest_allocation.h"
#include "services/domain/definition_generator.h"
#include "services/domain/protocol_validation.h"
#include "services/domain/totals_book.h"
#include "tests/support/reference_election.h"

namespace tally::sim {
namespace {

using ::testing::HasSubstr;

constexpr char kList[] = "mazhilis-list";
constexpr size_t kStations = 10310;
constexpr uint64_t kTargetBallots = 6521860;

NightOptions OfficialOptions(const v1::ResultTarget& target,
                             uint64_t seed = 2023) {
  NightOptions options;
  options.seed = seed;
  options.targets = {target};
  return options;
}

// The reference election, the official target and its truth for seed
// 2023, built once for the whole binary.
const testing::ReferenceElection& Ref() {
  return testing::Reference(2023, testing::Truth::kOfficialResult);
}

#define ASSERT_REFERENCE(ref)                    \
  const testing::ReferenceElection& ref = Ref(); \
  ASSERT_TRUE(ref.status.ok()) << ref.status

// What a protocol counts, without its version.
std::string Content(const v1::StationProtocol& protocol) {
  v1::StationProtocol copy = protocol;
  copy.set_version(0);
  return copy.SerializeAsString();
}

struct Sums {
  std::map<std::string, uint64_t> votes;
  uint64_t against_all = 0;
  uint64_t invalid = 0;
  uint64_t found = 0;
  uint64_t issued = 0;
};

Sums SumContest(const std::vector<v1::StationProtocol>& protocols,
                const std::string& contest_id) {
  Sums sums;
  for (const v1::StationProtocol& p : protocols) {
    if (p.contest_id() != contest_id) continue;
    for (const v1::ChoiceVotes& line : p.votes()) {
      sums.votes[line.choice_id()] += line.votes();
    }
    sums.against_all += p.accounting().against_all();
    sums.invalid += p.accounting().invalid();
    sums.found += p.accounting().ballots_found();
    sums.issued += p.accounting().ballots_issued();
  }
  return sums;
}

void ExpectSumsEqualTarget(const std::vector<v1::StationProtocol>& protocols,
                           const v1::ResultTarget& target) {
  const Sums sums = SumContest(protocols, target.contest_id());
  ASSERT_EQ(sums.votes.size(), target.votes().size());
  for (const auto& [choice, votes] : target.votes()) {
    EXPECT_EQ(sums.votes.at(choice), votes) << choice;
  }
  EXPECT_EQ(sums.against_all, target.against_all());
  EXPECT_EQ(sums.invalid, target.invalid());
  uint64_t found = target.against_all() + target.invalid();
  for (const auto& [choice, votes] : target.votes()) found += votes;
  EXPECT_EQ(sums.found, found);
  EXPECT_EQ(sums.issued, std::max(found, target.ballots_issued()));
}

// Every protocol (of `only_contest` when given) passes validation without
// any finding.
void ExpectAllValid(const ElectionIndex& index,
                    const std::vector<v1::StationProtocol>& protocols,
                    const std::string& only_contest = "") {
  size_t failures = 0;
  for (const v1::StationProtocol& p : protocols) {
    if (!only_contest.empty() && p.contest_id() != only_contest) continue;
    const ProtocolVerdict verdict = ValidateProtocol(index, p);
    if (!verdict.accepted() || !verdict.findings.empty()) {
      if (++failures <= 5) {
        ADD_FAILURE() << p.contest_id() << "/" << p.station_id() << ": "
                      << verdict.status << " findings "
                      << verdict.findings.size();
      }
    }
  }
  EXPECT_EQ(failures, 0u);
}

TEST(ResultTargetFile, HoldsTheOfficialFigures) {
  ASSERT_REFERENCE(ref);
  const v1::ResultTarget& t = ref.target;
  EXPECT_EQ(t.contest_id(), kList);
  EXPECT_EQ(t.votes().at("amanat"), 3431510u);
  EXPECT_EQ(t.votes().at("auyl"), 693938u);
  EXPECT_EQ(t.votes().at("respublica"), 547154u);
  EXPECT_EQ(t.votes().at("aq-jol"), 535139u);
  EXPECT_EQ(t.votes().at("qhp"), 432920u);
  EXPECT_EQ(t.votes().at("jsdp"), 331058u);
  EXPECT_EQ(t.votes().at("baytaq"), 146431u);
  EXPECT_EQ(t.votes().size(), 7u);
  EXPECT_EQ(t.against_all(), 248291u);
  EXPECT_EQ(t.invalid(), 155419u);
  EXPECT_EQ(t.ballots_issued(), kTargetBallots);
  EXPECT_THAT(t.source(), HasSubstr("Central Election Commission"));
}

TEST(GenerateTruth, EveryProtocolPassesValidationCleanly) {
  ASSERT_REFERENCE(ref);
  ExpectAllValid(*ref.index, ref.truth);
  for (const v1::StationProtocol& p : ref.truth) {
    ASSERT_EQ(p.version(), 1u);
    ASSERT_FALSE(p.has_signed_at());
    ASSERT_TRUE(p.submitted_by().empty());
    ASSERT_TRUE(p.digest().empty());
    ASSERT_EQ(p.votes_size(),
              ref.index->FindContest(p.contest_id())->contest->choices_size());
  }
}

TEST(GenerateTruth, NationalSumsEqualTheOfficialResult) {
  ASSERT_REFERENCE(ref);
  ExpectSumsEqualTarget(ref.truth, ref.target);
  const Sums sums = SumContest(ref.truth, kList);
  EXPECT_EQ(sums.found, kTargetBallots);
  EXPECT_EQ(sums.issued, kTargetBallots);
}

TEST(GenerateTruth, AccountingLinesFollowTheStationRegister) {
  ASSERT_REFERENCE(ref);
  for (const v1::StationProtocol& p : ref.truth) {
    const v1::PollingStation* station = ref.index->FindStation(p.station_id());
    ASSERT_NE(station, nullptr);
    const v1::BallotAccounting& a = p.accounting();
    ASSERT_EQ(a.registered_voters(), station->registered_voters());
    ASSERT_LE(a.ballots_issued(), a.registered_voters()) << p.station_id();
    ASSERT_LE(a.ballots_found(), a.ballots_issued());
    ASSERT_GE(a.ballots_received(), a.registered_voters());
    ASSERT_LT(a.ballots_received(), a.registered_voters() + 150);
    ASSERT_EQ(a.ballots_received() % 50, 0u);
    ASSERT_EQ(a.unused_cancelled(), a.ballots_received() - a.ballots_issued());
  }
}

TEST(GenerateTruth, OneProtocolPerStationOfEachContestInDefinitionOrder) {
  ASSERT_REFERENCE(ref);
  const v1::ElectionDefinition& def = ref.index->definition();
  std::map<std::string, std::vector<uint32_t>> expected;
  for (const v1::Contest& contest : def.contests()) {
    std::vector<uint32_t>& ids = expected[contest.id()];
    for (const v1::PollingStation& s : def.stations()) {
      if (contest.district_id().empty() ||
          s.district_id() == contest.district_id()) {
        ids.push_back(s.id());
      }
    }
    std::sort(ids.begin(), ids.end());
  }
  EXPECT_EQ(expected[kList].size(), kStations);
  EXPECT_EQ(expected["smd-03"].size(), 301u);

  std::vector<std::pair<std::string, uint32_t>> order;
  std::vector<std::pair<std::string, uint32_t>> want;
  for (const v1::Contest& contest : def.contests()) {
    for (uint32_t id : expected[contest.id()])
      want.emplace_back(contest.id(), id);
  }
  for (const v1::StationProtocol& p : ref.truth) {
    order.emplace_back(p.contest_id(), p.station_id());
  }
  EXPECT_EQ(order.size(), 2 * kStations);
  EXPECT_TRUE(order == want) << "not one protocol per (contest, station) in "
                                "contest-major, station-id order";
}

TEST(GenerateTruth, DistrictContestsShareTheStationsTurnout) {
  ASSERT_REFERENCE(ref);
  absl::flat_hash_map<uint32_t, const v1::StationProtocol*> list;
  for (const v1::StationProtocol& p : ref.truth) {
    if (p.contest_id() == kList) list[p.station_id()] = &p;
  }
  ASSERT_EQ(list.size(), kStations);
  size_t district_protocols = 0;
  for (const v1::StationProtocol& p : ref.truth) {
    if (p.contest_id() == kList) continue;
    ++district_protocols;
    const v1::BallotAccounting& national =
        list.at(p.station_id())->accounting();
    ASSERT_EQ(p.accounting().ballots_issued(), national.ballots_issued());
    ASSERT_EQ(p.accounting().ballots_found(), national.ballots_found());
  }
  EXPECT_EQ(district_protocols, kStations);
}

// Regions differ (the category pools are biased per region) while every
// station's result stays plausible.
TEST(GenerateTruth, ResultsVaryBetweenRegions) {
  ASSERT_REFERENCE(ref);
  std::map<std::string, std::pair<uint64_t, uint64_t>> amanat;  // votes, found
  std::map<std::string, std::pair<uint64_t, uint64_t>> turnout;
  for (const v1::StationProtocol& p : ref.truth) {
    if (p.contest_id() != kList) continue;
    const std::string& region =
        ref.index->FindStation(p.station_id())->region_id();
    amanat[region].first += p.votes(0).votes();
    amanat[region].second += p.accounting().ballots_found();
    turnout[region].first += p.accounting().ballots_issued();
    turnout[region].second += p.accounting().registered_voters();
  }
  ASSERT_EQ(amanat.size(), 20u);
  auto spread = [](const auto& shares) {
    double lo = 1, hi = 0;
    for (const auto& [region, pair] : shares) {
      const double share = static_cast<double>(pair.first) / pair.second;
      lo = std::min(lo, share);
      hi = std::max(hi, share);
    }
    return std::make_pair(lo, hi);
  };
  const auto [amanat_lo, amanat_hi] = spread(amanat);
  EXPECT_GT(amanat_hi - amanat_lo, 0.15);
  EXPECT_GT(amanat_lo, 0.3);
  EXPECT_LT(amanat_hi, 0.8);
  // The official regional turnouts run from 25.82% (Almaty) to 67.21%
  // (Kyzylorda).
  const auto [turnout_lo, turnout_hi] = spread(turnout);
  EXPECT_GT(turnout_hi - turnout_lo, 0.35);
  EXPECT_GT(turnout_lo, 0.2);
  EXPECT_LT(turnout_hi, 0.75);
}

// The leader's regional share stays plausible on every seed (about 40 to
// 70%), and stations spread around their region's share.
TEST(GenerateTruth, LeaderSharesVaryByRegionAndStation) {
  ASSERT_REFERENCE(ref);
  for (uint64_t seed : {1u, 2u, 3u, 2023u}) {
    absl::StatusOr<std::vector<v1::StationProtocol>> truth =
        GenerateTruth(*ref.index, OfficialOptions(ref.target, seed));
    ASSERT_TRUE(truth.ok()) << truth.status();
    std::map<std::string, std::pair<uint64_t, uint64_t>> region;
    for (const v1::StationProtocol& p : *truth) {
      if (p.contest_id() != kList) continue;
      auto& [votes, valid] =
          region[ref.index->FindStation(p.station_id())->region_id()];
      votes += p.votes(0).votes();
      valid += p.accounting().ballots_found() - p.accounting().invalid();
    }
    double lo = 1, hi = 0;
    std::map<std::string, double> share;
    for (const auto& [id, pair] : region) {
      share[id] = static_cast<double>(pair.first) / pair.second;
      lo = std::min(lo, share[id]);
      hi = std::max(hi, share[id]);
    }
    std::printf("seed %llu: the leader's regional share %.1f%% to %.1f%%\n",
                static_cast<unsigned long long>(seed), 100 * lo, 100 * hi);
    EXPECT_GT(lo, 0.33) << seed;
    EXPECT_LT(hi, 0.77) << seed;
    EXPECT_GT(hi - lo, 0.15) << seed;
    // Stations of 200 valid ballots or more: the spread around the region's
    // share is wider than sampling alone (about 3.5 points) would give.
    double squares = 0;
    size_t stations = 0;
    for (const v1::StationProtocol& p : *truth) {
      const uint64_t valid =
          p.accounting().ballots_found() - p.accounting().invalid();
      if (p.contest_id() != kList || valid < 200) continue;
      const double gap =
          static_cast<double>(p.votes(0).votes()) / valid -
          share[ref.index->FindStation(p.station_id())->region_id()];
      squares += gap * gap;
      ++stations;
    }
    ASSERT_GT(stations, 1000u);
    const double deviation = std::sqrt(squares / stations);
    std::printf("  stations around their region: %.1f points\n",
                100 * deviation);
    EXPECT_GT(deviation, 0.05) << seed;
    EXPECT_LT(deviation, 0.12) << seed;
  }
}

// Each region's turnout is its official figure shifted by the same amount,
// the smallest largest deviation that keeps the national figures exact.
TEST(GenerateTruth, RegionalTurnoutFollowsTheOfficialFigures) {
  ASSERT_REFERENCE(ref);
  ASSERT_EQ(ref.target.region_turnout_percent().size(), 20u);
  std::map<std::string, std::pair<uint64_t, uint64_t>> turnout;
  for (const v1::StationProtocol& p : ref.truth) {
    if (p.contest_id() != kList) continue;
    auto& [issued, registered] =
        turnout[ref.index->FindStation(p.station_id())->region_id()];
    issued += p.accounting().ballots_issued();
    registered += p.accounting().registered_voters();
  }
  double lo = 100, hi = -100, largest = 0;
  for (const auto& [region, text] : ref.target.region_turnout_percent()) {
    const auto& [issued, registered] = turnout.at(region);
    const double got = 100.0 * static_cast<double>(issued) / registered;
    const double deviation = got - std::stod(text);
    std::printf("region %s: turnout %.3f%%, official %s%%, deviation %+.3f\n",
                region.c_str(), got, text.c_str(), deviation);
    lo = std::min(lo, deviation);
    hi = std::max(hi, deviation);
    largest = std::max(largest, std::abs(deviation));
  }
  std::printf("largest deviation %.3f points\n", largest);
  EXPECT_LT(hi - lo, 0.01);  // the same shift everywhere
  EXPECT_LT(largest, 1.5);
  ExpectSumsEqualTarget(ref.truth, ref.target);
}

TEST(GenerateTruth, RejectsBadRegionTurnout) {
  ASSERT_REFERENCE(ref);
  for (const auto& [region, text, message] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"nowhere", "50", "region \"nowhere\", which is not defined"},
           {"almaty", "101", "not a percentage from 0 to 100"},
           {"almaty", "x", "not a percentage from 0 to 100"}}) {
    v1::ResultTarget target = ref.target;
    (*target.mutable_region_turnout_percent())[region] = text;
    EXPECT_THAT(
        GenerateTruth(*ref.index, OfficialOptions(target)).status().message(),
        HasSubstr(message));
  }
}

TEST(GenerateTruth, DistrictContestsHavePlausibleResults) {
  ASSERT_REFERENCE(ref);
  const v1::Scope national;
  for (const ContestInfo& info : ref.index->contests()) {
    if (info.contest->district_id().empty()) continue;
    const v1::Totals totals =
        SumTruth(*ref.index, ref.truth, info.contest->id(), national);
    ASSERT_GT(totals.ballots_cast(), 0u);
    uint64_t votes = 0;
    for (const v1::ChoiceTotal& c : totals.choices()) {
      EXPECT_GT(c.votes(), 0u) << info.contest->id() << " " << c.choice_id();
      votes += c.votes();
    }
    EXPECT_GT(totals.against_all(), 0u);
    EXPECT_LT(totals.against_all() * 100, totals.ballots_cast() * 6);
    EXPECT_GT(totals.invalid(), 0u);
    EXPECT_LT(totals.invalid() * 100, totals.ballots_cast() * 5);
    EXPECT_EQ(votes + totals.against_all() + totals.invalid(),
              totals.ballots_cast());
  }
}

// The official result names every district's winner (ResultTarget.winners):
// each wins its district, which with the list seats gives the chamber of
// the definition's notes.
TEST(GenerateTruth, KnownDistrictWinnersWin) {
  ASSERT_REFERENCE(ref);
  ASSERT_EQ(ref.target.winners_size(), 29);
  const v1::Scope national;
  for (const auto& [contest_id, winner] : ref.target.winners()) {
    const v1::Totals totals =
        SumTruth(*ref.index, ref.truth, contest_id, national);
    uint64_t winner_votes = 0, best_other = 0;
    for (const v1::ChoiceTotal& c : totals.choices()) {
      if (c.choice_id() == winner) {
        winner_votes = c.votes();
      } else {
        best_other = std::max(best_other, c.votes());
      }
    }
    EXPECT_GT(winner_votes, best_other) << contest_id << " " << winner;
    EXPECT_GT(winner_votes, totals.against_all()) << contest_id;
  }
}

TEST(GenerateTruth, RejectsImpossibleWinners) {
  ASSERT_REFERENCE(ref);
  auto generate = [&](const v1::ResultTarget& target) {
    return GenerateTruth(*ref.index, OfficialOptions(target)).status();
  };
  v1::ResultTarget target = ref.target;
  (*target.mutable_winners())["smd-99"] = "amanat";
  EXPECT_THAT(generate(target).message(), HasSubstr("not defined"));

  target = ref.target;
  (*target.mutable_winners())["mazhilis-list"] = "amanat";
  EXPECT_THAT(generate(target).message(), HasSubstr("single-seat"));

  target = ref.target;
  (*target.mutable_winners())["smd-02"] = "nobody";
  EXPECT_THAT(generate(target).message(),
              HasSubstr("choice \"nobody\" is not on the ballot"));
}

TEST(GenerateTruth, DeterministicForASeed) {
  ASSERT_REFERENCE(ref);
  absl::StatusOr<std::vector<v1::StationProtocol>> again =
      GenerateTruth(*ref.index, OfficialOptions(ref.target));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), ref.truth.size());
  for (size_t i = 0; i < again->size(); ++i) {
    ASSERT_EQ((*again)[i].SerializeAsString(), ref.truth[i].SerializeAsString())
        << i;
  }

  absl::StatusOr<std::vector<v1::StationProtocol>> other =
      GenerateTruth(*ref.index, OfficialOptions(ref.target, 7));
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_EQ(other->size(), ref.truth.size());
  size_t differing = 0;
  for (size_t i = 0; i < other->size(); ++i) {
    ASSERT_EQ((*other)[i].station_id(), ref.truth[i].station_id());
    if (Content((*other)[i]) != Content(ref.truth[i])) ++differing;
  }
  EXPECT_GT(differing, ref.truth.size() * 9 / 10);
  ExpectSumsEqualTarget(*other, ref.target);
}

TEST(GenerateTruth, IssuedBeyondFoundIsSpreadOverStations) {
  ASSERT_REFERENCE(ref);
  v1::ResultTarget target = ref.target;
  target.set_ballots_issued(kTargetBallots + 100000);
  absl::StatusOr<std::vector<v1::StationProtocol>> truth =
      GenerateTruth(*ref.index, OfficialOptions(target));
  ASSERT_TRUE(truth.ok()) << truth.status();
  ExpectSumsEqualTarget(*truth, target);
  ExpectAllValid(*ref.index, *truth, kList);
  size_t short_stations = 0;
  for (const v1::StationProtocol& p : *truth) {
    if (p.contest_id() == kList &&
        p.accounting().ballots_found() < p.accounting().ballots_issued()) {
      ++short_stations;
    }
  }
  EXPECT_GT(short_stations, kStations / 2);
}

// Every voter votes: the apportionment must cap every station at its
// register and re-apportion the excess.
TEST(GenerateTruth, FullTurnoutFillsEveryRegister) {
  ASSERT_REFERENCE(ref);
  v1::ResultTarget target = ref.target;
  const uint64_t others = kTargetBallots - target.votes().at("amanat");
  (*target.mutable_votes())["amanat"] = ref.index->registered_voters() - others;
  target.set_ballots_issued(0);
  absl::StatusOr<std::vector<v1::StationProtocol>> truth =
      GenerateTruth(*ref.index, OfficialOptions(target));
  ASSERT_TRUE(truth.ok()) << truth.status();
  ExpectSumsEqualTarget(*truth, target);
  for (const v1::StationProtocol& p : *truth) {
    ASSERT_EQ(p.accounting().ballots_issued(),
              p.accounting().registered_voters())
        << p.contest_id() << "/" << p.station_id();
  }
  ExpectAllValid(*ref.index, *truth, kList);
}

TEST(GenerateTruth, RejectsImpossibleTargets) {
  ASSERT_REFERENCE(ref);
  auto generate = [&](const v1::ResultTarget& target) {
    return GenerateTruth(*ref.index, OfficialOptions(target)).status();
  };
  v1::ResultTarget target = ref.target;
  target.set_contest_id("no-such-contest");
  EXPECT_THAT(generate(target).message(), HasSubstr("not defined"));

  target = ref.target;
  target.set_contest_id("smd-01");
  EXPECT_THAT(generate(target).message(), HasSubstr("only national"));

  target = ref.target;
  target.mutable_votes()->erase("baytaq");
  EXPECT_THAT(generate(target).message(), HasSubstr("\"baytaq\" are missing"));

  target = ref.target;
  (*target.mutable_votes())["nobody"] = 5;
  EXPECT_THAT(generate(target).message(), HasSubstr("not on the ballot"));

  target = ref.target;
  (*target.mutable_votes())["amanat"] = ref.index->registered_voters();
  EXPECT_THAT(generate(target).message(), HasSubstr("exceed the registered"));

  target = ref.target;
  target.set_ballots_issued(ref.index->registered_voters() + 1);
  EXPECT_THAT(generate(target).message(), HasSubstr("ballots_issued"));

  NightOptions twice = OfficialOptions(ref.target);
  twice.targets.push_back(ref.target);
  EXPECT_THAT(GenerateTruth(*ref.index, twice).status().message(),
              HasSubstr("more than one target"));

  NightOptions turnout;
  turnout.default_turnout_percent = 101;
  EXPECT_EQ(GenerateTruth(*ref.index, turnout).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GenerateTruth, WithoutTargetsUsesTheDefaultTurnout) {
  ASSERT_REFERENCE(ref);
  NightOptions options;
  options.default_turnout_percent = 55;
  absl::StatusOr<std::vector<v1::StationProtocol>> truth =
      GenerateTruth(*ref.index, options);
  ASSERT_TRUE(truth.ok()) << truth.status();
  EXPECT_EQ(truth->size(), 2 * kStations);
  ExpectAllValid(*ref.index, *truth);
  const Sums sums = SumContest(*truth, kList);
  const double turnout =
      static_cast<double>(sums.issued) / ref.index->registered_voters();
  EXPECT_GT(turnout, 0.52);
  EXPECT_LT(turnout, 0.58);
  EXPECT_EQ(sums.found, sums.issued);
  EXPECT_GT(sums.against_all, 0u);
}

// A small election: a national list without "against all" and one district
// contest covering part of the stations.
constexpr char kSmallSpec[] = R"json({
  "base": {
    "id": "small", "name": "Small election", "date": "2024-05-05",
    "time_zone": "Europe/Vienna", "polls_close_local_time": "18:00",
    "regions": [{"id": "north", "name": "North"},
                {"id": "south", "name": "South"}],
    "districts": [{"id": "n1", "name": "North 1", "region_id": "north"},
                  {"id": "s1", "name": "South 1", "region_id": "south"}],
    "contests": [
      {"id": "list", "name": "Lists", "kind": "CONTEST_KIND_PARTY_LIST",
       "seats": 5, "rule": {"method": "ALLOCATION_METHOD_DHONDT"},
       "choices": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"},
                   {"id": "c", "name": "C"}]},
      {"id": "mayor-s1", "name": "Mayor", "kind": "CONTEST_KIND_SINGLE_MANDATE",
       "district_id": "s1", "seats": 1,
       "rule": {"method": "ALLOCATION_METHOD_PLURALITY"},
       "choices": [{"id": "x", "name": "X"}, {"id": "y", "name": "Y"}],
       "against_all_on_ballot": true}
    ]
  },
  "seed": 7,
  "domestic_stations": 40,
  "registered_voters": 30000,
  "districts": [
    {"district_id": "n1", "voter_weight": 2, "station_weight": 2},
    {"district_id": "s1", "voter_weight": 1, "station_weight": 1}
  ],
  "size_spread_percent": 50
})json";

std::unique_ptr<ElectionIndex> SmallIndex() {
  absl::StatusOr<v1::DefinitionSpec> spec = ParseDefinitionSpecJson(kSmallSpec);
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return nullptr;
  absl::StatusOr<v1::ElectionDefinition> definition = GenerateDefinition(*spec);
  EXPECT_TRUE(definition.ok()) << definition.status();
  if (!definition.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
      ElectionIndex::Build(*definition);
  EXPECT_TRUE(index.ok()) << index.status();
  return index.ok() ? *std::move(index) : nullptr;
}

TEST(GenerateTruth, SmallElectionWithoutAgainstAllLine) {
  const std::unique_ptr<ElectionIndex> index = SmallIndex();
  ASSERT_NE(index, nullptr);
  v1::ResultTarget target;
  target.set_contest_id("list");
  (*target.mutable_votes())["a"] = 9000;
  (*target.mutable_votes())["b"] = 5000;
  (*target.mutable_votes())["c"] = 1;
  target.set_invalid(321);
  NightOptions options;
  options.targets = {target};
  absl::StatusOr<std::vector<v1::StationProtocol>> truth =
      GenerateTruth(*index, options);
  ASSERT_TRUE(truth.ok()) << truth.status();
  ExpectSumsEqualTarget(*truth, target);
  ExpectAllValid(*index, *truth);
  size_t mayor = 0;
  for (const v1::StationProtocol& p : *truth) {
    if (p.contest_id() == "list") {
      EXPECT_EQ(p.accounting().against_all(), 0u);
    }
    if (p.contest_id() != "mayor-s1") continue;
    ++mayor;
    EXPECT_EQ(index->FindStation(p.station_id())->district_id(), "s1");
  }
  EXPECT_EQ(mayor, index->FindContest("mayor-s1")->stations_expected);

  target.set_against_all(1);
  options.targets = {target};
  EXPECT_THAT(GenerateTruth(*index, options).status().message(),
              HasSubstr("no \"against all\" line"));
}

// Applies the plan with "highest version wins; the same version must carry
// the same content" and returns the surviving protocol of every key.
std::map<std::pair<std::string, uint32_t>, v1::StationProtocol> Replay(
    const std::vector<Submission>& plan) {
  std::map<std::pair<std::string, uint32_t>, v1::StationProtocol> latest;
  for (const Submission& s : plan) {
    const auto key =
        std::make_pair(s.protocol.contest_id(), s.protocol.station_id());
    auto it = latest.find(key);
    if (it == latest.end() || s.protocol.version() > it->second.version()) {
      latest[key] = s.protocol;
    } else if (s.protocol.version() == it->second.version()) {
      EXPECT_EQ(s.protocol.SerializeAsString(), it->second.SerializeAsString())
          << "conflicting resend of " << key.first << "/" << key.second;
    }
  }
  return latest;
}

TEST(PlanNight, CorrectionsAndDuplicatesLeaveExactlyTheTruth) {
  ASSERT_REFERENCE(ref);
  NightOptions options = OfficialOptions(ref.target);
  options.correction_percent = 5;
  options.duplicate_percent = 5;
  const std::vector<Submission> plan =
      PlanNight(*ref.index, ref.truth, options);
  const size_t n = ref.truth.size();
  const size_t share = n * 5 / 100;

  // Position of each submission by key and version; checks of order.
  std::map<std::pair<std::string, uint32_t>, std::map<uint32_t, size_t>> first;
  size_t duplicates = 0;
  size_t corrections = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    const v1::StationProtocol& p = plan[i].protocol;
    auto& versions = first[{p.contest_id(), p.station_id()}];
    if (plan[i].duplicate) {
      ++duplicates;
      ASSERT_TRUE(versions.contains(p.version()))
          << "duplicate before its original at " << i;
      EXPECT_EQ(p.SerializeAsString(),
                plan[versions.at(p.version())].protocol.SerializeAsString());
      continue;
    }
    ASSERT_FALSE(versions.contains(p.version())) << "unflagged repeat at " << i;
    versions[p.version()] = i;
    if (p.version() == 2) {
      ++corrections;
      ASSERT_TRUE(versions.contains(1))
          << "version 2 before version 1 at " << i;
    }
  }
  EXPECT_EQ(corrections, share);
  EXPECT_EQ(duplicates, share);
  EXPECT_EQ(plan.size(), n + 2 * share);
  EXPECT_EQ(first.size(), n);

  // The wrong first versions differ from the truth but still pass
  // validation.
  std::vector<v1::StationProtocol> wrong;
  for (const auto& [key, versions] : first) {
    if (!versions.contains(2)) continue;
    const v1::StationProtocol& first_version = plan[versions.at(1)].protocol;
    const v1::StationProtocol& correction = plan[versions.at(2)].protocol;
    EXPECT_NE(Content(first_version), Content(correction))
        << key.first << "/" << key.second;
    wrong.push_back(first_version);
  }
  ExpectAllValid(*ref.index, wrong);

  // The reporting order is shuffled.
  size_t in_truth_order = 0;
  for (size_t i = 0; i + 1 < plan.size(); ++i) {
    if (plan[i].protocol.contest_id() == plan[i + 1].protocol.contest_id() &&
        plan[i].protocol.station_id() + 1 ==
            plan[i + 1].protocol.station_id()) {
      ++in_truth_order;
    }
  }
  EXPECT_LT(in_truth_order, plan.size() / 100);

  const auto latest = Replay(plan);
  ASSERT_EQ(latest.size(), n);
  size_t second_versions = 0;
  for (const v1::StationProtocol& truth : ref.truth) {
    const v1::StationProtocol& got =
        latest.at({truth.contest_id(), truth.station_id()});
    ASSERT_EQ(Content(got), Content(truth))
        << truth.contest_id() << "/" << truth.station_id();
    if (got.version() == 2) ++second_versions;
  }
  EXPECT_EQ(second_versions, share);
}

TEST(PlanNight, WithoutErrorsEverySubmissionIsTheTruthOnce) {
  ASSERT_REFERENCE(ref);
  const std::vector<Submission> plan =
      PlanNight(*ref.index, ref.truth, OfficialOptions(ref.target));
  ASSERT_EQ(plan.size(), ref.truth.size());
  std::set<std::string> seen;
  for (const Submission& s : plan) {
    EXPECT_FALSE(s.duplicate);
    EXPECT_EQ(s.protocol.version(), 1u);
    seen.insert(s.protocol.SerializeAsString());
  }
  std::set<std::string> want;
  for (const v1::StationProtocol& p : ref.truth)
    want.insert(p.SerializeAsString());
  EXPECT_TRUE(seen == want);
  // Same seed, same plan.
  const std::vector<Submission> again =
      PlanNight(*ref.index, ref.truth, OfficialOptions(ref.target));
  ASSERT_EQ(again.size(), plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    ASSERT_EQ(again[i].protocol.station_id(), plan[i].protocol.station_id());
    ASSERT_EQ(again[i].protocol.contest_id(), plan[i].protocol.contest_id());
  }
}

// The plan as (contest, station, version, duplicate) in order.
std::vector<std::tuple<std::string, uint32_t, uint32_t, bool>> Order(
    const std::vector<Submission>& plan) {
  std::vector<std::tuple<std::string, uint32_t, uint32_t, bool>> order;
  for (const Submission& s : plan) {
    order.emplace_back(s.protocol.contest_id(), s.protocol.station_id(),
                       s.protocol.version(), s.duplicate);
  }
  return order;
}

TEST(PlanNight, SameSeedSamePlanOtherSeedOtherPlan) {
  ASSERT_REFERENCE(ref);
  NightOptions options = OfficialOptions(ref.target);
  options.correction_percent = 3;
  options.duplicate_percent = 2;
  const std::vector<Submission> plan =
      PlanNight(*ref.index, ref.truth, options);
  const std::vector<Submission> again =
      PlanNight(*ref.index, ref.truth, options);
  ASSERT_EQ(plan.size(), again.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    ASSERT_EQ(plan[i].protocol.SerializeAsString(),
              again[i].protocol.SerializeAsString())
        << i;
    ASSERT_EQ(plan[i].duplicate, again[i].duplicate) << i;
    ASSERT_EQ(plan[i].seconds_after_close, again[i].seconds_after_close) << i;
  }
  options.seed = 2024;
  const std::vector<Submission> other =
      PlanNight(*ref.index, ref.truth, options);
  ASSERT_EQ(other.size(), plan.size());
  const auto a = Order(plan);
  const auto b = Order(other);
  size_t same_place = 0;
  for (size_t i = 0; i < a.size(); ++i) same_place += a[i] == b[i] ? 1 : 0;
  EXPECT_LT(same_place, a.size() / 20);
}

// Regions on UTC+6 close an hour before those on UTC+5 and report first;
// within a time zone smaller stations tend to report earlier; the times
// ascend.
TEST(PlanNight, ReportingFollowsTimeZonesAndStationSize) {
  ASSERT_REFERENCE(ref);
  const std::vector<Submission> plan =
      PlanNight(*ref.index, ref.truth, OfficialOptions(ref.target));
  std::set<std::string> west;  // regions with their own (UTC+5) zone
  for (const v1::Region& region : ref.index->definition().regions()) {
    if (!region.time_zone().empty()) west.insert(region.id());
  }
  ASSERT_EQ(west.size(), 5u);
  const size_t n = plan.size();
  size_t west_in_first_tenth = 0;
  double west_position = 0, east_position = 0;
  size_t west_count = 0, east_count = 0;
  // Mean register of the eastern stations in the first and last thirds of
  // the eastern submissions.
  std::vector<uint64_t> east_registers;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) {
      ASSERT_GE(plan[i].seconds_after_close, plan[i - 1].seconds_after_close);
    }
    const v1::PollingStation* station =
        ref.index->FindStation(plan[i].protocol.station_id());
    if (west.contains(station->region_id())) {
      west_in_first_tenth += i < n / 10 ? 1 : 0;
      west_position += static_cast<double>(i) / n;
      ++west_count;
    } else {
      east_position += static_cast<double>(i) / n;
      ++east_count;
      east_registers.push_back(station->registered_voters());
    }
  }
  EXPECT_LT(west_in_first_tenth, n / 1000);
  EXPECT_LT(east_position / east_count + 0.15, west_position / west_count);
  const size_t third = east_registers.size() / 3;
  double early = 0, late = 0;
  for (size_t i = 0; i < third; ++i) {
    early += static_cast<double>(east_registers[i]);
    late += static_cast<double>(east_registers[east_registers.size() - 1 - i]);
  }
  EXPECT_LT(early * 1.1, late);
  // ... but not a strict sort: plenty of neighbours out of size order.
  size_t inversions = 0;
  for (size_t i = 0; i + 1 < east_registers.size(); ++i) {
    inversions += east_registers[i] > east_registers[i + 1] ? 1 : 0;
  }
  EXPECT_GT(inversions, east_registers.size() / 4);
}

// Replays a plan through the domain (totals and seat allocation after
// every submission of the list contest): the number of times the
// provisional list seats changed once 10% of the stations had reported,
// and the final seats.
std::pair<size_t, std::map<std::string, uint32_t>> ReplaySeats(
    const ElectionIndex& index, const std::vector<Submission>& plan) {
  const ContestInfo* info = index.FindContest(kList);
  TotalsBook book(index);
  v1::Scope national;
  national.set_kind(v1::SCOPE_KIND_NATIONAL);
  const std::optional<uint32_t> entry = book.Find(kList, national);
  std::map<std::pair<std::string, uint32_t>, v1::StationProtocol> latest;
  const uint64_t stations = index.definition().stations_size();
  uint64_t reported = 0;
  std::map<std::string, uint32_t> seats;
  size_t changes = 0;
  if (info == nullptr || !entry.has_value()) return {0, seats};
  for (const Submission& submission : plan) {
    const v1::StationProtocol& p = submission.protocol;
    if (submission.duplicate || p.contest_id() != kList) continue;
    const auto key = std::make_pair(p.contest_id(), p.station_id());
    const auto it = latest.find(key);
    book.Apply(it == latest.end() ? nullptr : &it->second, false, p, false);
    if (it == latest.end()) ++reported;
    latest[key] = p;
    absl::StatusOr<v1::SeatAllocation> allocation =
        AllocateContest(*info->contest, book.ToProto(*entry));
    EXPECT_TRUE(allocation.ok()) << allocation.status();
    if (!allocation.ok()) return {changes, seats};
    std::map<std::string, uint32_t> now;
    for (const v1::ChoiceSeats& choice : allocation->choices()) {
      if (choice.seats() > 0) now[choice.choice_id()] = choice.seats();
    }
    if (reported * 10 > stations && now != seats) ++changes;
    seats = std::move(now);
  }
  return {changes, seats};
}

// The provisional list seats move during the night (several seeds) and
// settle on the official 40/8/6/6/5/4.
TEST(PlanNight, ProvisionalSeatsMoveThenSettleOnTheOfficialOnes) {
  ASSERT_REFERENCE(ref);
  const std::map<std::string, uint32_t> official(ref.target.seats().begin(),
                                                 ref.target.seats().end());
  for (uint64_t seed : {2023u, 1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    NightOptions options = OfficialOptions(ref.target, seed);
    options.correction_percent = 2;
    options.duplicate_percent = 2;
    absl::StatusOr<std::vector<v1::StationProtocol>> truth =
        seed == 2023 ? ref.truth : GenerateTruth(*ref.index, options);
    ASSERT_TRUE(truth.ok()) << truth.status();
    const auto [changes, seats] =
        ReplaySeats(*ref.index, PlanNight(*ref.index, *truth, options));
    std::printf(
        "seed %llu: the provisional list seats changed %zu times after the "
        "first 10%% of stations\n",
        static_cast<unsigned long long>(seed), changes);
    EXPECT_GE(changes, 3u);
    EXPECT_EQ(seats, official);
  }
}

TEST(SumTruth, RegionAndDistrictEqualTheManualSums) {
  ASSERT_REFERENCE(ref);
  v1::Scope region;
  region.set_kind(v1::SCOPE_KIND_REGION);
  region.set_id("almaty");
  const v1::Totals totals = SumTruth(*ref.index, ref.truth, kList, region);

  std::vector<uint64_t> votes(7, 0);
  uint64_t against = 0, invalid = 0, found = 0, issued = 0, registered = 0;
  uint32_t reported = 0;
  for (const v1::StationProtocol& p : ref.truth) {
    if (p.contest_id() != kList ||
        ref.index->FindStation(p.station_id())->region_id() != "almaty") {
      continue;
    }
    for (int c = 0; c < p.votes_size(); ++c) votes[c] += p.votes(c).votes();
    against += p.accounting().against_all();
    invalid += p.accounting().invalid();
    found += p.accounting().ballots_found();
    issued += p.accounting().ballots_issued();
    registered += p.accounting().registered_voters();
    ++reported;
  }
  EXPECT_EQ(totals.contest_id(), kList);
  EXPECT_EQ(totals.scope().id(), "almaty");
  ASSERT_EQ(totals.choices_size(), 7);
  EXPECT_EQ(totals.choices(0).choice_id(), "amanat");
  for (int c = 0; c < 7; ++c) EXPECT_EQ(totals.choices(c).votes(), votes[c]);
  EXPECT_EQ(totals.against_all(), against);
  EXPECT_EQ(totals.invalid(), invalid);
  EXPECT_EQ(totals.ballots_cast(), found);
  EXPECT_EQ(totals.ballots_issued(), issued);
  EXPECT_EQ(totals.registered_voters(), registered);
  EXPECT_EQ(totals.stations_reported(), reported);
  EXPECT_EQ(reported, 903u);  // districts d03, d04, d05
  EXPECT_EQ(totals.stations_expected(), 903u);
  EXPECT_EQ(totals.registered_voters_expected(), registered);
  EXPECT_GT(found, 0u);

  v1::Scope district;
  district.set_kind(v1::SCOPE_KIND_DISTRICT);
  district.set_id("d03");
  const v1::Totals smd = SumTruth(*ref.index, ref.truth, "smd-03", district);
  EXPECT_EQ(smd.stations_reported(), 301u);
  EXPECT_EQ(smd.stations_expected(), 301u);
  EXPECT_EQ(smd.registered_voters(), 435443u);
  EXPECT_EQ(smd.choices_size(), 4);

  // A half-reported region: expected stays, reported halves.
  std::vector<v1::StationProtocol> half;
  for (size_t i = 0; i < ref.truth.size(); i += 2) half.push_back(ref.truth[i]);
  const v1::Totals partial = SumTruth(*ref.index, half, kList, region);
  EXPECT_EQ(partial.stations_expected(), 903u);
  EXPECT_LT(partial.stations_reported(), 903u);
  EXPECT_GT(partial.stations_reported(), 400u);

  const v1::Totals national = SumTruth(*ref.index, ref.truth, kList, {});
  EXPECT_EQ(national.ballots_cast(), kTargetBallots);
  EXPECT_EQ(national.choices(0).votes(), 3431510u);
  EXPECT_EQ(national.stations_expected(), kStations);

  const v1::Totals unknown = SumTruth(*ref.index, ref.truth, "nope", region);
  EXPECT_EQ(unknown.choices_size(), 0);
  EXPECT_EQ(unknown.stations_expected(), 0u);
}

}  // namespace
}  // namespace tally::sim
