// services/domain/nist_cdf: the NIST SP 1500-100 v2 mapping on the mini
// election (tests/support/mini_election.h), read back as JSON. The schema
// itself is checked end to end by tests/integration/nist_export_test.cc.
#include "services/domain/nist_cdf.h"

#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "services/domain/proto_json.h"
#include "tests/support/mini_election.h"

namespace tally::nist {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

v1::Totals MakeTotals(
    const std::string& contest, v1::ScopeKind kind, const std::string& scope_id,
    uint32_t reported, uint32_t expected,
    const std::vector<std::pair<std::string, uint64_t>>& votes,
    uint64_t against_all = 0) {
  v1::Totals totals;
  totals.set_contest_id(contest);
  totals.mutable_scope()->set_kind(kind);
  totals.mutable_scope()->set_id(scope_id);
  totals.set_stations_reported(reported);
  totals.set_stations_expected(expected);
  for (const auto& [choice, count] : votes) {
    v1::ChoiceTotal* total = totals.add_choices();
    total->set_choice_id(choice);
    total->set_votes(count);
  }
  totals.set_against_all(against_all);
  totals.set_invalid(3);
  return totals;
}

class NistCdfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    definition_ = testing::MiniElection();
    input_.definition = &definition_;
    input_.revision = 7;
    input_.generated = absl::FromUnixSeconds(1679252400);  // 2023-03-19 19:00
    input_.totals = {
        MakeTotals("list", v1::SCOPE_KIND_NATIONAL, "", 2, 4,
                   {{"party-a", 100}, {"party-b", 50}, {"party-c", 10}}, 5),
        MakeTotals("smd-1", v1::SCOPE_KIND_DISTRICT, "d-1", 2, 2,
                   {{"cand-x", 70}, {"cand-y", 60}}),
        MakeTotals("smd-2", v1::SCOPE_KIND_DISTRICT, "d-2", 0, 2, {}),
    };
  }

  Struct Report() {
    absl::StatusOr<std::string> json = NistCdfJson(input_);
    EXPECT_TRUE(json.ok()) << json.status();
    Struct report;
    EXPECT_TRUE(ParseJson(json.value_or("{}"), &report).ok());
    return report;
  }

  static const Value& Field(const Struct& object, const std::string& key) {
    static const Value* const kNull = new Value();
    auto it = object.fields().find(key);
    return it == object.fields().end() ? *kNull : it->second;
  }

  v1::ElectionDefinition definition_;
  ExportInput input_;
};

TEST_F(NistCdfTest, ReportHeaderAndStatus) {
  Struct report = Report();
  EXPECT_EQ(Field(report, "@type").string_value(),
            "ElectionResults.ElectionReport");
  EXPECT_EQ(Field(report, "Status").string_value(), "unofficial-partial");
  EXPECT_EQ(Field(report, "Format").string_value(), "summary-contest");
  EXPECT_EQ(Field(report, "GeneratedDate").string_value(),
            "2023-03-19T19:00:00Z");
  EXPECT_EQ(Field(report, "SequenceStart").number_value(), 1);
  EXPECT_EQ(Field(report, "SequenceEnd").number_value(), 1);

  input_.totals[0].set_stations_reported(4);
  input_.totals[2].set_stations_reported(2);
  EXPECT_EQ(Field(Report(), "Status").string_value(), "unofficial-complete");
}

TEST_F(NistCdfTest, ContestsSelectionsAndAgainstAll) {
  Struct report = Report();
  const Struct& election =
      Field(report, "Election").list_value().values(0).struct_value();
  const auto& contests = Field(election, "Contest").list_value().values();
  ASSERT_EQ(contests.size(), 3);
  const Struct& list = contests[0].struct_value();
  EXPECT_EQ(Field(list, "@type").string_value(),
            "ElectionResults.PartyContest");
  EXPECT_EQ(Field(list, "ElectionDistrictId").string_value(), "gpu-national");
  const auto& selections =
      Field(list, "ContestSelection").list_value().values();
  ASSERT_EQ(selections.size(), 4);  // three lists and "against all"
  const Struct& party_a = selections[0].struct_value();
  EXPECT_EQ(Field(party_a, "PartyIds").list_value().values(0).string_value(),
            "party-party-a");
  const Struct& count =
      Field(party_a, "VoteCounts").list_value().values(0).struct_value();
  EXPECT_EQ(Field(count, "GpUnitId").string_value(), "gpu-national");
  EXPECT_EQ(Field(count, "Count").number_value(), 100);
  const Struct& against = selections[3].struct_value();
  EXPECT_EQ(Field(against, "@type").string_value(),
            "ElectionResults.BallotMeasureSelection");
  EXPECT_EQ(
      Field(Field(against, "VoteCounts").list_value().values(0).struct_value(),
            "Count")
          .number_value(),
      5);

  const Struct& smd = contests[1].struct_value();
  EXPECT_EQ(Field(smd, "@type").string_value(),
            "ElectionResults.CandidateContest");
  EXPECT_EQ(Field(smd, "ElectionDistrictId").string_value(),
            "gpu-district-d-1");
  EXPECT_EQ(Field(smd, "VotesAllowed").number_value(), 1);
  EXPECT_EQ(Field(smd, "SubUnitsReported").number_value(), 2);
}

TEST_F(NistCdfTest, LevelsAndStations) {
  // National: the country and the districts of the district contests.
  auto units = [&] {
    std::vector<std::string> ids;
    const Struct report = Report();
    for (const Value& unit : Field(report, "GpUnit").list_value().values()) {
      ids.push_back(Field(unit.struct_value(), "@id").string_value());
    }
    return ids;
  };
  EXPECT_EQ(units(),
            (std::vector<std::string>{"gpu-national", "gpu-district-d-1",
                                      "gpu-district-d-2"}));
  input_.level = ExportLevel::kRegion;
  EXPECT_EQ(units().size(), 5u);

  input_.level = ExportLevel::kStation;
  EXPECT_EQ(NistCdfJson(input_).status().code(),
            absl::StatusCode::kInvalidArgument);
  StationProtocols protocols;
  v1::StationProtocol first;
  first.set_contest_id("list");
  first.set_station_id(101);
  first.set_version(2);
  v1::ChoiceVotes* votes = first.add_votes();
  votes->set_choice_id("party-a");
  votes->set_votes(40);
  protocols.Add(first);
  v1::StationProtocol older = first;
  older.set_version(1);
  older.mutable_votes(0)->set_votes(1);
  protocols.Add(older);  // superseded: the highest version is counted
  ASSERT_NE(protocols.Find("list", 101), nullptr);
  EXPECT_EQ(protocols.Find("list", 101)->votes(0).votes(), 40u);
  input_.stations = &protocols;
  Struct report = Report();
  EXPECT_EQ(Field(report, "Format").string_value(), "precinct-level");
  EXPECT_EQ(Field(report, "GpUnit").list_value().values_size(), 3 + 2 + 4);
  bool found = false;
  const Struct& list =
      Field(Field(report, "Election").list_value().values(0).struct_value(),
            "Contest")
          .list_value()
          .values(0)
          .struct_value();
  for (const Value& count : Field(Field(list, "ContestSelection")
                                      .list_value()
                                      .values(0)
                                      .struct_value(),
                                  "VoteCounts")
                                .list_value()
                                .values()) {
    if (Field(count.struct_value(), "GpUnitId").string_value() ==
        "gpu-station-101") {
      found = true;
      EXPECT_EQ(Field(count.struct_value(), "Count").number_value(), 40);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(NistCdfTest, SameInputSameDocument) {
  EXPECT_EQ(*NistCdfJson(input_), *NistCdfJson(input_));
}

TEST(NistCdfLevel, ParsesTheFourLevels) {
  EXPECT_EQ(*ParseExportLevel("station"), ExportLevel::kStation);
  EXPECT_EQ(ExportLevelName(ExportLevel::kDistrict), "district");
  absl::StatusOr<ExportLevel> bad = ParseExportLevel("town");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("national, region, district"),
            std::string::npos);
}

}  // namespace
}  // namespace tally::nist
