// Election definition: JSON mapping, structural rules, index.
#include "services/domain/definition_validation.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/domain/election_loader.h"
#include "tally/v1/election.pb.h"
#include "tests/support/mini_election.h"

namespace tally {
namespace {

using testing::MiniElection;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Renames a region or district and every reference to it, so that a test
// of the id rules breaks exactly one rule.
void RenameRegion(v1::ElectionDefinition* d, const std::string& from,
                  const std::string& to) {
  for (v1::Region& r : *d->mutable_regions()) {
    if (r.id() == from) r.set_id(to);
  }
  for (v1::District& x : *d->mutable_districts()) {
    if (x.region_id() == from) x.set_region_id(to);
  }
  for (v1::PollingStation& s : *d->mutable_stations()) {
    if (s.region_id() == from) s.set_region_id(to);
  }
}

void RenameDistrict(v1::ElectionDefinition* d, const std::string& from,
                    const std::string& to) {
  for (v1::District& x : *d->mutable_districts()) {
    if (x.id() == from) x.set_id(to);
  }
  for (v1::PollingStation& s : *d->mutable_stations()) {
    if (s.district_id() == from) s.set_district_id(to);
  }
  for (v1::Contest& c : *d->mutable_contests()) {
    if (c.district_id() == from) c.set_district_id(to);
  }
}

using Mutation = std::function<void(v1::ElectionDefinition*)>;

struct RuleCase {
  std::string name;
  Mutation mutate;
  // The complete list of problems, in order.
  std::vector<std::string> problems;
};

void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class DefinitionRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(DefinitionRuleTest, ReportsExactlyTheExpectedProblems) {
  v1::ElectionDefinition d = MiniElection();
  GetParam().mutate(&d);
  EXPECT_EQ(DefinitionProblems(d), GetParam().problems);

  const absl::Status status = ValidateDefinition(d);
  const std::vector<std::string>& problems = GetParam().problems;
  if (problems.empty()) {
    EXPECT_TRUE(status.ok()) << status;
  } else {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message().substr(0, problems[0].size()), problems[0]);
  }
}

constexpr char kIdPattern[] = "id must match [a-z0-9][a-z0-9-]*";

// Every list method fits a party-list contest.
std::vector<RuleCase> ListMethodCases() {
  std::vector<RuleCase> cases;
  for (const auto method :
       {v1::ALLOCATION_METHOD_HARE, v1::ALLOCATION_METHOD_DROOP,
        v1::ALLOCATION_METHOD_DHONDT, v1::ALLOCATION_METHOD_SAINTE_LAGUE,
        v1::ALLOCATION_METHOD_MODIFIED_SAINTE_LAGUE}) {
    cases.push_back({"PartyListWith" + v1::AllocationMethod_Name(method),
                     [method](v1::ElectionDefinition* d) {
                       d->mutable_contests(0)->mutable_rule()->set_method(
                           method);
                     },
                     {}});
  }
  return cases;
}

std::vector<RuleCase> RuleCases() {
  std::vector<RuleCase> cases = ListMethodCases();
  std::vector<RuleCase> rules = {
      // --- the election itself
      {"ElectionIdRequired",
       [](auto* d) { d->clear_id(); },
       {"election: id is required"}},
      {"ElectionNameRequired",
       [](auto* d) { d->clear_name(); },
       {"election: name is required"}},
      {"DateRequired",
       [](auto* d) { d->clear_date(); },
       {"election: date is required"}},
      {"DateNotACalendarDay",
       [](auto* d) { d->set_date("2023-02-29"); },
       {"election: date \"2023-02-29\" is not a valid calendar date "
        "(YYYY-MM-DD)"}},
      {"DateLeapDayIsValid", [](auto* d) { d->set_date("2024-02-29"); }, {}},
      {"DateMonth13",
       [](auto* d) { d->set_date("2023-13-01"); },
       {"election: date \"2023-13-01\" is not a valid calendar date "
        "(YYYY-MM-DD)"}},
      {"DateWrongFormat",
       [](auto* d) { d->set_date("19.03.2023"); },
       {"election: date \"19.03.2023\" is not a valid calendar date "
        "(YYYY-MM-DD)"}},
      {"DateCenturyNotLeap",
       [](auto* d) { d->set_date("1900-02-29"); },
       {"election: date \"1900-02-29\" is not a valid calendar date "
        "(YYYY-MM-DD)"}},
      {"TimeZoneRequired",
       [](auto* d) { d->clear_time_zone(); },
       {"election: time_zone is required"}},
      {"PollsCloseMayBeEmpty",
       [](auto* d) { d->clear_polls_close_local_time(); },
       {}},
      {"PollsCloseHour24",
       [](auto* d) { d->set_polls_close_local_time("24:00"); },
       {"election: polls_close_local_time \"24:00\" is not HH:MM"}},
      {"PollsCloseSingleDigitHour",
       [](auto* d) { d->set_polls_close_local_time("8:00"); },
       {"election: polls_close_local_time \"8:00\" is not HH:MM"}},
      {"NoRegions",
       [](auto* d) { d->clear_regions(); },
       {"election: at least one region is required",
        "districts[0] (id \"d-1\"): region_id \"r-north\" is not a defined "
        "region",
        "districts[1] (id \"d-2\"): region_id \"r-south\" is not a defined "
        "region",
        "stations[0] (id 101): region_id \"r-north\" is not a defined region",
        "stations[1] (id 102): region_id \"r-north\" is not a defined region",
        "stations[2] (id 201): region_id \"r-south\" is not a defined region",
        "stations[3] (id 202): region_id \"r-south\" is not a defined "
        "region"}},
      {"NoStations",
       [](auto* d) { d->clear_stations(); },
       {"election: at least one station is required",
        "contests[1] (id \"smd-1\"): district \"d-1\" has no polling stations",
        "contests[2] (id \"smd-2\"): district \"d-2\" has no polling "
        "stations"}},
      {"NoContests",
       [](auto* d) { d->clear_contests(); },
       {"election: at least one contest is required"}},
      // --- regions
      {"RegionIdRequired",
       [](auto* d) { RenameRegion(d, "r-south", ""); },
       {"regions[1]: id is required",
        "districts[1] (id \"d-2\"): region_id is required",
        "stations[2] (id 201): region_id is required",
        "stations[3] (id 202): region_id is required"}},
      {"RegionIdUppercase",
       [](auto* d) { RenameRegion(d, "r-north", "North"); },
       {std::string("regions[0] (id \"North\"): ") + kIdPattern}},
      {"RegionIdLeadingDash",
       [](auto* d) { RenameRegion(d, "r-north", "-north"); },
       {std::string("regions[0] (id \"-north\"): ") + kIdPattern}},
      {"RegionIdDuplicate",
       [](auto* d) { RenameRegion(d, "r-south", "r-north"); },
       {"regions[1] (id \"r-north\"): id is a duplicate of regions[0]"}},
      {"RegionNameRequired",
       [](auto* d) { d->mutable_regions(1)->clear_name(); },
       {"regions[1] (id \"r-south\"): name is required"}},
      // --- districts
      {"DistrictIdPattern",
       [](auto* d) { RenameDistrict(d, "d-2", "d_2"); },
       {std::string("districts[1] (id \"d_2\"): ") + kIdPattern}},
      {"DistrictIdDuplicate",
       [](auto* d) {
         d->mutable_districts(1)->set_id("d-1");
         d->mutable_districts(1)->set_region_id("r-north");
       },
       {"districts[1] (id \"d-1\"): id is a duplicate of districts[0]",
        "stations[2] (id 201): district_id \"d-2\" is not a defined district",
        "stations[3] (id 202): district_id \"d-2\" is not a defined district",
        "contests[2] (id \"smd-2\"): district_id \"d-2\" is not a defined "
        "district"}},
      {"DistrictNameRequired",
       [](auto* d) { d->mutable_districts(0)->clear_name(); },
       {"districts[0] (id \"d-1\"): name is required"}},
      {"DistrictRegionRequired",
       [](auto* d) { d->mutable_districts(0)->clear_region_id(); },
       {"districts[0] (id \"d-1\"): region_id is required"}},
      {"DistrictRegionUnknown",
       [](auto* d) { d->mutable_districts(0)->set_region_id("r-west"); },
       {"districts[0] (id \"d-1\"): region_id \"r-west\" is not a defined "
        "region"}},
      // --- stations
      {"StationIdZero",
       [](auto* d) { d->mutable_stations(2)->set_id(0); },
       {"stations[2] (id 0): id must be >= 1"}},
      {"StationIdDuplicate",
       [](auto* d) { d->mutable_stations(3)->set_id(201); },
       {"stations[3] (id 201): id is a duplicate of stations[2]"}},
      {"StationRegionRequired",
       [](auto* d) { d->mutable_stations(1)->clear_region_id(); },
       {"stations[1] (id 102): region_id is required"}},
      {"StationRegionUnknown",
       [](auto* d) { d->mutable_stations(1)->set_region_id("r-west"); },
       {"stations[1] (id 102): region_id \"r-west\" is not a defined "
        "region"}},
      {"StationDistrictRequiredWithDistrictContests",
       [](auto* d) { d->mutable_stations(0)->clear_district_id(); },
       {"stations[0] (id 101): district_id is required because contest "
        "\"smd-1\" is a district contest"}},
      {"StationDistrictOptionalWithoutDistrictContests",
       [](auto* d) {
         d->mutable_contests()->DeleteSubrange(1, 2);
         for (auto& s : *d->mutable_stations()) s.clear_district_id();
       },
       {}},
      {"StationDistrictUnknown",
       [](auto* d) { d->mutable_stations(3)->set_district_id("d-31"); },
       {"stations[3] (id 202): district_id \"d-31\" is not a defined "
        "district"}},
      {"StationDistrictInOtherRegion",
       [](auto* d) { d->mutable_stations(1)->set_district_id("d-2"); },
       {"stations[1] (id 102): district_id \"d-2\" lies in region "
        "\"r-south\", not in the station's region \"r-north\""}},
      {"StationRegisteredVotersZero",
       [](auto* d) { d->mutable_stations(0)->set_registered_voters(0); },
       {"stations[0] (id 101): registered_voters must be >= 1"}},
      {"StationRegisteredVotersTooLarge",
       [](auto* d) {
         d->mutable_stations(0)->set_registered_voters((uint64_t{1} << 40) + 1);
       },
       {"stations[0] (id 101): registered_voters 1099511627777 exceeds the "
        "limit 1099511627776",
        "election: registered_voters of all stations exceed the limit "
        "1099511627776"}},
      // --- contests
      {"ContestIdRequired",
       [](auto* d) { d->mutable_contests(0)->clear_id(); },
       {"contests[0]: id is required"}},
      {"ContestIdPattern",
       [](auto* d) { d->mutable_contests(0)->set_id("List"); },
       {std::string("contests[0] (id \"List\"): ") + kIdPattern}},
      {"ContestIdDuplicate",
       [](auto* d) { d->mutable_contests(2)->set_id("smd-1"); },
       {"contests[2] (id \"smd-1\"): id is a duplicate of contests[1]"}},
      {"ContestNameRequired",
       [](auto* d) { d->mutable_contests(1)->clear_name(); },
       {"contests[1] (id \"smd-1\"): name is required"}},
      {"ContestKindRequired",
       [](auto* d) { d->mutable_contests(0)->clear_kind(); },
       {"contests[0] (id \"list\"): kind is required"}},
      {"SeatsZero",
       [](auto* d) { d->mutable_contests(0)->set_seats(0); },
       {"contests[0] (id \"list\"): seats must be >= 1"}},
      {"SeatsTooLarge",
       [](auto* d) { d->mutable_contests(0)->set_seats((1u << 20) + 1); },
       {"contests[0] (id \"list\"): seats 1048577 exceeds the limit "
        "1048576"}},
      {"SingleMandateSeatsMustBeOne",
       [](auto* d) { d->mutable_contests(1)->set_seats(2); },
       {"contests[1] (id \"smd-1\"): seats must be 1 for "
        "CONTEST_KIND_SINGLE_MANDATE, got 2"}},
      {"PresidentialSeatsMustBeOne",
       [](auto* d) {
         v1::Contest* c = d->mutable_contests(0);
         c->set_kind(v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY);
         c->mutable_rule()->set_method(v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY);
         c->mutable_rule()->clear_threshold_percent();
       },
       {"contests[0] (id \"list\"): seats must be 1 for "
        "CONTEST_KIND_PRESIDENTIAL_MAJORITY, got 10"}},
      {"PresidentialValid",
       [](auto* d) {
         v1::Contest* c = d->mutable_contests(0);
         c->set_kind(v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY);
         c->set_seats(1);
         c->mutable_rule()->set_method(v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY);
         c->mutable_rule()->clear_threshold_percent();
       },
       {}},
      {"MethodRequired",
       [](auto* d) { d->mutable_contests(0)->clear_rule(); },
       {"contests[0] (id \"list\"): rule.method is required"}},
      {"PartyListWithPlurality",
       [](auto* d) {
         d->mutable_contests(0)->mutable_rule()->set_method(
             v1::ALLOCATION_METHOD_PLURALITY);
       },
       {"contests[0] (id \"list\"): rule.method ALLOCATION_METHOD_PLURALITY "
        "does not fit kind CONTEST_KIND_PARTY_LIST"}},
      {"SingleMandateWithDHondt",
       [](auto* d) {
         d->mutable_contests(2)->mutable_rule()->set_method(
             v1::ALLOCATION_METHOD_DHONDT);
       },
       {"contests[2] (id \"smd-2\"): rule.method ALLOCATION_METHOD_DHONDT "
        "does not fit kind CONTEST_KIND_SINGLE_MANDATE"}},
      {"SingleMandateWithAbsoluteMajority",
       [](auto* d) {
         d->mutable_contests(1)->mutable_rule()->set_method(
             v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY);
       },
       {"contests[1] (id \"smd-1\"): rule.method "
        "ALLOCATION_METHOD_ABSOLUTE_MAJORITY does not fit kind "
        "CONTEST_KIND_SINGLE_MANDATE"}},
      {"PresidentialWithPlurality",
       [](auto* d) {
         v1::Contest* c = d->mutable_contests(0);
         c->set_kind(v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY);
         c->set_seats(1);
         c->mutable_rule()->set_method(v1::ALLOCATION_METHOD_PLURALITY);
         c->mutable_rule()->clear_threshold_percent();
       },
       {"contests[0] (id \"list\"): rule.method ALLOCATION_METHOD_PLURALITY "
        "does not fit kind CONTEST_KIND_PRESIDENTIAL_MAJORITY"}},
      {"ThresholdDecimalIsValid",
       [](auto* d) {
         d->mutable_contests(0)->mutable_rule()->set_threshold_percent("3.25");
       },
       {}},
      {"ThresholdZeroOnSingleMandateIsNoThreshold",
       [](auto* d) {
         d->mutable_contests(1)->mutable_rule()->set_threshold_percent("0");
       },
       {}},
      {"ThresholdOnSingleMandate",
       [](auto* d) {
         d->mutable_contests(1)->mutable_rule()->set_threshold_percent("5");
       },
       {"contests[1] (id \"smd-1\"): rule.threshold_percent is only allowed "
        "for CONTEST_KIND_PARTY_LIST, not CONTEST_KIND_SINGLE_MANDATE"}},
      {"ContestDistrictUnknown",
       [](auto* d) { d->mutable_contests(2)->set_district_id("d-9"); },
       {"contests[2] (id \"smd-2\"): district_id \"d-9\" is not a defined "
        "district"}},
      {"DistrictContestWithoutStations",
       [](auto* d) {
         v1::District* x = d->add_districts();
         x->set_id("d-3");
         x->set_name("District d-3");
         x->set_region_id("r-north");
         d->mutable_contests(1)->set_district_id("d-3");
       },
       {"contests[1] (id \"smd-1\"): district \"d-3\" has no polling "
        "stations"}},
      // --- choices
      {"ChoicesRequired",
       [](auto* d) { d->mutable_contests(1)->clear_choices(); },
       {"contests[1] (id \"smd-1\"): at least one choice is required"}},
      {"ChoiceIdRequired",
       [](auto* d) { d->mutable_contests(0)->mutable_choices(1)->clear_id(); },
       {"contests[0] (id \"list\"): choices[1]: id is required"}},
      {"ChoiceIdDuplicate",
       [](auto* d) {
         d->mutable_contests(0)->mutable_choices(2)->set_id("party-a");
       },
       {"contests[0] (id \"list\"): choices[2] (id \"party-a\"): id is a "
        "duplicate of choices[0]"}},
      {"ChoiceIdsAreScopedToTheContest",
       [](auto* d) {
         d->mutable_contests(2)->mutable_choices(0)->set_id("party-a");
       },
       {}},
      {"ChoiceNameRequired",
       [](auto* d) {
         d->mutable_contests(2)->mutable_choices(1)->clear_name();
       },
       {"contests[2] (id \"smd-2\"): choices[1] (id \"cand-y\"): name is "
        "required"}},
      {"ChoicePartyOfTheList",
       [](auto* d) {
         d->mutable_contests(2)->mutable_choices(0)->set_party_id("party-a");
       },
       {}},
      {"ChoicePartyUnknown",
       [](auto* d) {
         d->mutable_contests(2)->mutable_choices(1)->set_party_id("party-z");
       },
       {"contests[2] (id \"smd-2\"): choices[1] (id \"cand-y\"): party_id "
        "\"party-z\" is not a choice of any party-list contest"}},
      {"ChoicePartyIsNotAContestsOwnChoice",
       [](auto* d) {
         d->mutable_contests(2)->mutable_choices(1)->set_party_id("cand-x");
       },
       {"contests[2] (id \"smd-2\"): choices[1] (id \"cand-y\"): party_id "
        "\"cand-x\" is not a choice of any party-list contest"}},
      {"ChoicePartyOnAPartyList",
       [](auto* d) {
         d->mutable_contests(0)->mutable_choices(1)->set_party_id("party-a");
       },
       {"contests[0] (id \"list\"): choices[1] (id \"party-b\"): party_id "
        "must be empty in a party-list contest (its choices are the "
        "parties)"}},
      {"ChoiceColourWord",
       [](auto* d) {
         d->mutable_contests(0)->mutable_choices(0)->set_colour("red");
       },
       {"contests[0] (id \"list\"): choices[0] (id \"party-a\"): colour "
        "\"red\" is not #rrggbb"}},
      {"ChoiceColourNotHex",
       [](auto* d) {
         d->mutable_contests(0)->mutable_choices(0)->set_colour("#12345g");
       },
       {"contests[0] (id \"list\"): choices[0] (id \"party-a\"): colour "
        "\"#12345g\" is not #rrggbb"}},
      // --- several problems keep definition order
      {"ProblemsInDefinitionOrder",
       [](auto* d) {
         d->mutable_contests(0)->set_seats(0);
         d->mutable_stations(3)->set_registered_voters(0);
         d->clear_name();
       },
       {"election: name is required",
        "stations[3] (id 202): registered_voters must be >= 1",
        "contests[0] (id \"list\"): seats must be >= 1"}},
  };
  cases.insert(cases.end(), rules.begin(), rules.end());
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Rules, DefinitionRuleTest,
                         ::testing::ValuesIn(RuleCases()),
                         [](const ::testing::TestParamInfo<RuleCase>& info) {
                           return info.param.name;
                         });

TEST(DefinitionValidationTest, MiniDefinitionIsValid) {
  EXPECT_THAT(DefinitionProblems(MiniElection()), IsEmpty());
  EXPECT_TRUE(ValidateDefinition(MiniElection()).ok());
}

TEST(DefinitionValidationTest, ThresholdThatDoesNotParseNamesTheValue) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_contests(0)->mutable_rule()->set_threshold_percent("five");
  const std::vector<std::string> problems = DefinitionProblems(d);
  ASSERT_EQ(problems.size(), 1u);
  // The reason after the colon comes from the percentage parser.
  EXPECT_THAT(problems[0],
              HasSubstr("contests[0] (id \"list\"): rule.threshold_percent "
                        "\"five\" is not a valid percentage: "));
}

TEST(DefinitionValidationTest, ThresholdAboveHundredIsRejected) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_contests(0)->mutable_rule()->set_threshold_percent("150");
  const std::vector<std::string> problems = DefinitionProblems(d);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("contests[0] (id \"list\"): "
                                     "rule.threshold_percent \"150\""));
}

TEST(DefinitionValidationTest, ValidateCountsTheRemainingProblems) {
  v1::ElectionDefinition d = MiniElection();
  d.clear_id();
  EXPECT_EQ(ValidateDefinition(d).message(), "election: id is required");
  d.clear_name();
  EXPECT_EQ(ValidateDefinition(d).message(),
            "election: id is required (and 1 more problem)");
  d.clear_time_zone();
  EXPECT_EQ(ValidateDefinition(d).message(),
            "election: id is required (and 2 more problems)");
}

TEST(DefinitionValidationTest, UnknownEnumValuesAreReported) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_contests(0)->set_kind(static_cast<v1::ContestKind>(9));
  d.mutable_validation()->set_votes_sum(static_cast<v1::Severity>(7));
  EXPECT_THAT(DefinitionProblems(d),
              ElementsAre("contests[0] (id \"list\"): kind 9 is not a known "
                          "contest kind",
                          "validation: votes_sum 7 is not a known severity"));
}

TEST(DefinitionValidationTest, UnknownShareBaseNamesTheKnownBases) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_contests(0)->mutable_rule()->set_share_base(
      static_cast<v1::VoteBase>(4));
  EXPECT_THAT(DefinitionProblems(d),
              ElementsAre("contests[0] (id \"list\"): rule.share_base 4 is "
                          "not a known vote base (VOTE_BASE_LIST_VOTES, "
                          "VOTE_BASE_VALID_VOTES or VOTE_BASE_BALLOTS_CAST)"));
}

// --- JSON mapping

constexpr char kMiniJson[] = R"json({
  "id": "tiny", "name": "Tiny", "date": "2025-01-02", "time_zone": "UTC",
  "regions": [{"id": "r", "name": "R"}],
  "stations": [{"id": 1, "region_id": "r", "registered_voters": "100"}],
  "contests": [{"id": "c", "name": "C", "kind": "CONTEST_KIND_PARTY_LIST",
                "seats": 3, "rule": {"method": "ALLOCATION_METHOD_DHONDT"},
                "choices": [{"id": "a", "name": "A"}]}]
})json";

TEST(ElectionLoaderTest, ParsesProtoFieldNamesAndEnumNames) {
  absl::StatusOr<v1::ElectionDefinition> d = ParseDefinitionJson(kMiniJson);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->id(), "tiny");
  ASSERT_EQ(d->stations_size(), 1);
  EXPECT_EQ(d->stations(0).registered_voters(), 100u);
  EXPECT_EQ(d->contests(0).rule().method(), v1::ALLOCATION_METHOD_DHONDT);
  EXPECT_TRUE(ValidateDefinition(*d).ok());
}

TEST(ElectionLoaderTest, MalformedJsonIsInvalidArgument) {
  const auto d = ParseDefinitionJson(R"({"id": "x",)");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(),
              HasSubstr("invalid election definition JSON"));
}

TEST(ElectionLoaderTest, UnknownFieldIsAnError) {
  const auto d = ParseDefinitionJson(R"({"id": "x", "regoins": []})");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(), HasSubstr("regoins"));
}

TEST(ElectionLoaderTest, WrongTypeIsAnError) {
  const auto d =
      ParseDefinitionJson(R"({"contests": [{"id": "c", "seats": "many"}]})");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(),
              HasSubstr("invalid election definition JSON"));
}

TEST(ElectionLoaderTest, UnknownEnumNameIsAnError) {
  const auto d = ParseDefinitionJson(
      R"({"contests": [{"id": "c", "kind": "CONTEST_KIND_REFERENDUM"}]})");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ElectionLoaderTest, ReadsEveryShareBase) {
  for (const char* base : {"VOTE_BASE_LIST_VOTES", "VOTE_BASE_VALID_VOTES",
                           "VOTE_BASE_BALLOTS_CAST"}) {
    std::string json = kMiniJson;
    const std::string method = R"("method": "ALLOCATION_METHOD_DHONDT")";
    json.replace(json.find(method), method.size(),
                 absl::StrCat(method, R"(, "share_base": ")", base, "\""));
    absl::StatusOr<v1::ElectionDefinition> d = ParseDefinitionJson(json);
    ASSERT_TRUE(d.ok()) << base << ": " << d.status();
    EXPECT_EQ(v1::VoteBase_Name(d->contests(0).rule().share_base()), base);
    EXPECT_TRUE(ValidateDefinition(*d).ok()) << base;
  }
}

TEST(ElectionLoaderTest, UnknownShareBaseIsRefusedByName) {
  // A misspelt base is refused when read, naming the value; a number that is
  // no base passes the JSON mapping and is refused by the validation.
  const auto named = ParseDefinitionJson(
      R"({"contests": [{"id": "c", "rule": {"share_base": "VOTE_BASE_PARTY"}}]})");
  EXPECT_EQ(named.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(named.status().message(), HasSubstr("VOTE_BASE_PARTY"));
  std::string json = kMiniJson;
  const std::string method = R"("method": "ALLOCATION_METHOD_DHONDT")";
  json.replace(json.find(method), method.size(),
               absl::StrCat(method, R"(, "share_base": 7)"));
  const auto numbered = ParseDefinitionJson(json);
  ASSERT_TRUE(numbered.ok()) << numbered.status();
  const absl::Status valid = ValidateDefinition(*numbered);
  EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(valid.message(),
              HasSubstr("rule.share_base 7 is not a known vote base"));
}

TEST(ElectionLoaderTest, RoundTripKeepsEverything) {
  const v1::ElectionDefinition original = MiniElection();
  absl::StatusOr<std::string> json = DefinitionToJson(original);
  ASSERT_TRUE(json.ok()) << json.status();
  // Proto field names and pretty output.
  EXPECT_THAT(*json, HasSubstr("\"registered_voters\""));
  EXPECT_THAT(*json, HasSubstr("\"against_all_on_ballot\": true"));
  EXPECT_THAT(*json, HasSubstr("\n"));
  absl::StatusOr<v1::ElectionDefinition> parsed = ParseDefinitionJson(*json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(original, *parsed));
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/definition_validation_test_" + name;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

TEST(ElectionLoaderTest, MissingFileNamesThePath) {
  const std::string path = TempPath("does-not-exist.json");
  std::remove(path.c_str());
  const auto d = LoadDefinitionFile(path);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(), HasSubstr(path + ": cannot read"));
}

TEST(ElectionLoaderTest, DirectoryIsNotReadable) {
  const auto d = LoadDefinitionFile(::testing::TempDir());
  EXPECT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr(::testing::TempDir()));
}

TEST(ElectionLoaderTest, LoadsAValidFile) {
  const std::string path = TempPath("mini.json");
  WriteFile(path, *DefinitionToJson(MiniElection()));
  const auto d = LoadDefinitionFile(path);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(*d, MiniElection()));
  std::remove(path.c_str());
}

TEST(ElectionLoaderTest, ParseErrorInFileIsPrefixedWithThePath) {
  const std::string path = TempPath("broken.json");
  WriteFile(path, "{ not json");
  const auto d = LoadDefinitionFile(path);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(),
              HasSubstr(path + ": invalid election definition JSON"));
  std::remove(path.c_str());
}

TEST(ElectionLoaderTest, InvalidDefinitionInFileIsPrefixedWithThePath) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_stations(3)->set_district_id("d-31");
  const std::string path = TempPath("invalid.json");
  WriteFile(path, *DefinitionToJson(d));
  const auto loaded = LoadDefinitionFile(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loaded.status().message(),
            path +
                ": stations[3] (id 202): district_id \"d-31\" is not a "
                "defined district");
  std::remove(path.c_str());
}

// --- index

TEST(ElectionIndexTest, RejectsAnInvalidDefinition) {
  v1::ElectionDefinition d = MiniElection();
  d.mutable_stations(3)->set_id(201);
  const auto index = ElectionIndex::Build(d);
  EXPECT_EQ(index.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.status().message(),
            "stations[3] (id 201): id is a duplicate of stations[2]");
}

TEST(ElectionIndexTest, LooksUpEntries) {
  auto built = ElectionIndex::Build(MiniElection());
  ASSERT_TRUE(built.ok()) << built.status();
  // Moving the owning pointer must not invalidate anything inside.
  const std::unique_ptr<ElectionIndex> index = std::move(*built);

  const v1::PollingStation* s201 = index->FindStation(201);
  ASSERT_NE(s201, nullptr);
  EXPECT_EQ(s201->region_id(), "r-south");
  EXPECT_EQ(s201->registered_voters(), 1200u);
  EXPECT_EQ(index->FindStation(0), nullptr);
  EXPECT_EQ(index->FindStation(999), nullptr);

  ASSERT_NE(index->FindRegion("r-north"), nullptr);
  EXPECT_EQ(index->FindRegion("r-north")->name(), "North");
  EXPECT_EQ(index->FindRegion("r-west"), nullptr);
  ASSERT_NE(index->FindDistrict("d-2"), nullptr);
  EXPECT_EQ(index->FindDistrict("d-2")->region_id(), "r-south");
  EXPECT_EQ(index->FindDistrict("d-9"), nullptr);

  const ContestInfo* list = index->FindContest("list");
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(list->index, 0u);
  EXPECT_EQ(list->contest->name(), "Party list");
  EXPECT_EQ(list->contest, &index->definition().contests(0));
  EXPECT_EQ(list->choice_index.at("party-a"), 0u);
  EXPECT_EQ(list->choice_index.at("party-c"), 2u);
  EXPECT_FALSE(list->choice_index.contains("cand-x"));
  EXPECT_EQ(index->FindContest("smd-9"), nullptr);
  EXPECT_EQ(index->contests().size(), 3u);
}

TEST(ElectionIndexTest, ExpectedCountsFollowTheStationsThatVote) {
  auto index = ElectionIndex::Build(MiniElection());
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->registered_voters(), 3600u);

  const ContestInfo* list = (*index)->FindContest("list");
  EXPECT_EQ(list->stations_expected, 4u);
  EXPECT_EQ(list->registered_voters_expected, 3600u);
  const ContestInfo* smd1 = (*index)->FindContest("smd-1");
  EXPECT_EQ(smd1->index, 1u);
  EXPECT_EQ(smd1->stations_expected, 2u);
  EXPECT_EQ(smd1->registered_voters_expected, 1800u);
  const ContestInfo* smd2 = (*index)->FindContest("smd-2");
  EXPECT_EQ(smd2->stations_expected, 2u);
  EXPECT_EQ(smd2->registered_voters_expected, 1800u);
}

TEST(ElectionIndexTest, StationVotesInNationalAndOwnDistrictOnly) {
  auto index = ElectionIndex::Build(MiniElection());
  ASSERT_TRUE(index.ok()) << index.status();
  const ElectionIndex& ix = **index;
  const v1::PollingStation& s101 = *ix.FindStation(101);
  const v1::PollingStation& s202 = *ix.FindStation(202);
  const v1::Contest& list = *ix.FindContest("list")->contest;
  const v1::Contest& smd1 = *ix.FindContest("smd-1")->contest;
  const v1::Contest& smd2 = *ix.FindContest("smd-2")->contest;
  EXPECT_TRUE(ix.StationVotesIn(s101, list));
  EXPECT_TRUE(ix.StationVotesIn(s202, list));
  EXPECT_TRUE(ix.StationVotesIn(s101, smd1));
  EXPECT_FALSE(ix.StationVotesIn(s101, smd2));
  EXPECT_FALSE(ix.StationVotesIn(s202, smd1));
  EXPECT_TRUE(ix.StationVotesIn(s202, smd2));
}

}  // namespace
}  // namespace tally
