#include "services/domain/definition_generator.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "services/domain/definition_validation.h"

namespace tally {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kRegisteredVoters = 12035578;
constexpr uint64_t kAbroadVoters = 17500;
constexpr uint64_t kDomesticStations = 10233;
constexpr uint64_t kAbroadStations = 77;

// A small election that exercises every feature of the spec: two regions,
// three districts, a national and a district contest, stations abroad.
constexpr char kSmallSpec[] = R"json({
  "base": {
    "id": "small", "name": "Small election", "date": "2024-05-05",
    "time_zone": "Europe/Vienna", "polls_close_local_time": "18:00",
    "regions": [{"id": "north", "name": "North"},
                {"id": "south", "name": "South"}],
    "districts": [{"id": "n1", "name": "North 1", "region_id": "north"},
                  {"id": "n2", "name": "North 2", "region_id": "north"},
                  {"id": "s1", "name": "South 1", "region_id": "south"}],
    "contests": [
      {"id": "list", "name": "Lists", "kind": "CONTEST_KIND_PARTY_LIST",
       "seats": 5, "rule": {"method": "ALLOCATION_METHOD_DHONDT"},
       "choices": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]},
      {"id": "mayor-s1", "name": "Mayor", "kind": "CONTEST_KIND_SINGLE_MANDATE",
       "district_id": "s1", "seats": 1,
       "rule": {"method": "ALLOCATION_METHOD_PLURALITY"},
       "choices": [{"id": "x", "name": "X"}, {"id": "y", "name": "Y"}]}
    ]
  },
  "seed": 7,
  "domestic_stations": 30,
  "abroad_stations": 4,
  "registered_voters": 25000,
  "abroad_registered_voters": 1000,
  "abroad_district_id": "n1",
  "districts": [
    {"district_id": "n1", "voter_weight": 2, "station_weight": 2,
     "code_prefix": "AT-N1"},
    {"district_id": "n2", "voter_weight": 1, "station_weight": 1,
     "code_prefix": "AT-N2"},
    {"district_id": "s1", "voter_weight": 3, "station_weight": 3}
  ],
  "size_spread_percent": 50
})json";

v1::DefinitionSpec SmallSpec() {
  absl::StatusOr<v1::DefinitionSpec> spec = ParseDefinitionSpecJson(kSmallSpec);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : v1::DefinitionSpec();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

v1::DefinitionSpec DefaultSpec() {
  absl::StatusOr<v1::DefinitionSpec> spec = ParseDefinitionSpecJson(
      ReadFile(TALLY_SOURCE_DIR "/deploy/elections/kz-2023.spec.json"));
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : v1::DefinitionSpec();
}

std::string DeterministicBytes(const v1::ElectionDefinition& definition) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  definition.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

// The largest remainder method gives each part the floor or the ceiling of
// its exact share total * weight / sum: |part * sum - total * weight| < sum.
bool WithinOneOfShare(uint64_t part, uint64_t total, uint64_t weight,
                      uint64_t weight_sum) {
  const unsigned __int128 lhs =
      static_cast<unsigned __int128>(part) * weight_sum;
  const unsigned __int128 rhs = static_cast<unsigned __int128>(total) * weight;
  const unsigned __int128 diff = lhs > rhs ? lhs - rhs : rhs - lhs;
  return diff < weight_sum;
}

struct DistrictSums {
  uint64_t voters = 0;
  uint64_t stations = 0;
};

// Domestic stations only.
absl::flat_hash_map<std::string, DistrictSums> SumByDistrict(
    const v1::ElectionDefinition& definition) {
  absl::flat_hash_map<std::string, DistrictSums> sums;
  for (const v1::PollingStation& station : definition.stations()) {
    if (station.abroad()) continue;
    sums[station.district_id()].voters += station.registered_voters();
    sums[station.district_id()].stations += 1;
  }
  return sums;
}

class EmbeddedDefaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<v1::ElectionDefinition> definition =
        EmbeddedDefaultDefinition();
    ASSERT_TRUE(definition.ok()) << definition.status();
    definition_ = new v1::ElectionDefinition(*definition);
  }
  static void TearDownTestSuite() {
    delete definition_;
    definition_ = nullptr;
  }
  static const v1::ElectionDefinition& def() { return *definition_; }

 private:
  static v1::ElectionDefinition* definition_;
};

v1::ElectionDefinition* EmbeddedDefaultTest::definition_ = nullptr;

TEST_F(EmbeddedDefaultTest, HasTheOfficialStructure) {
  EXPECT_EQ(def().id(), "kz-2023-mazhilis");
  EXPECT_EQ(def().date(), "2023-03-19");
  EXPECT_EQ(def().time_zone(), "Asia/Almaty");
  EXPECT_EQ(def().polls_close_local_time(), "20:00");
  EXPECT_EQ(def().regions_size(), 20);
  EXPECT_EQ(def().districts_size(), 29);
  EXPECT_EQ(def().stations_size(), kDomesticStations + kAbroadStations);
  EXPECT_FALSE(def().source_notes().empty());
}

TEST_F(EmbeddedDefaultTest, WesternRegionsKeepTheirOwnTimeZone) {
  absl::flat_hash_map<std::string, std::string> zones;
  for (const v1::Region& region : def().regions()) {
    zones[region.id()] = region.time_zone();
  }
  EXPECT_EQ(zones["aktobe"], "Asia/Aqtobe");
  EXPECT_EQ(zones["atyrau"], "Asia/Atyrau");
  EXPECT_EQ(zones["west-kazakhstan"], "Asia/Oral");
  EXPECT_EQ(zones["kyzylorda"], "Asia/Qyzylorda");
  EXPECT_EQ(zones["mangystau"], "Asia/Aqtau");
  EXPECT_EQ(zones["astana"], "");
  EXPECT_EQ(zones["karaganda"], "");
}

TEST_F(EmbeddedDefaultTest, ReproducesThePublishedTotalsExactly) {
  uint64_t all = 0;
  uint64_t abroad = 0;
  uint64_t domestic_stations = 0;
  uint64_t abroad_stations = 0;
  for (const v1::PollingStation& station : def().stations()) {
    all += station.registered_voters();
    if (station.abroad()) {
      abroad += station.registered_voters();
      ++abroad_stations;
    } else {
      ++domestic_stations;
    }
  }
  EXPECT_EQ(all, kRegisteredVoters);
  EXPECT_EQ(abroad, kAbroadVoters);
  EXPECT_EQ(domestic_stations, kDomesticStations);
  EXPECT_EQ(abroad_stations, kAbroadStations);
}

TEST_F(EmbeddedDefaultTest, EveryStationIsWellFormed) {
  uint32_t expected_id = 1;
  for (const v1::PollingStation& station : def().stations()) {
    EXPECT_EQ(station.id(), expected_id++);
    EXPECT_GE(station.registered_voters(), 1u) << station.id();
    EXPECT_FALSE(station.region_id().empty()) << station.id();
    EXPECT_FALSE(station.district_id().empty()) << station.id();
  }
  // Domestic stations first, abroad last.
  const v1::PollingStation& first = def().stations(0);
  EXPECT_EQ(first.code(), "KZ-D01-0001");
  EXPECT_EQ(first.district_id(), "d01");
  EXPECT_EQ(first.region_id(), "astana");
  EXPECT_FALSE(first.abroad());
  const v1::PollingStation& last_domestic =
      def().stations(kDomesticStations - 1);
  EXPECT_EQ(last_domestic.district_id(), "d29");
  EXPECT_EQ(last_domestic.region_id(), "east-kazakhstan");
  EXPECT_FALSE(last_domestic.abroad());
  for (uint64_t i = kDomesticStations; i < kDomesticStations + kAbroadStations;
       ++i) {
    const v1::PollingStation& station = def().stations(static_cast<int>(i));
    EXPECT_TRUE(station.abroad()) << station.id();
    EXPECT_EQ(station.district_id(), "d01");
    EXPECT_EQ(station.region_id(), "astana");
    EXPECT_EQ(station.code(),
              absl::StrFormat("KZ-ABR-%04d", i - kDomesticStations + 1));
  }
}

TEST_F(EmbeddedDefaultTest, StationsAreUniqueByCode) {
  absl::flat_hash_map<std::string, uint32_t> codes;
  for (const v1::PollingStation& station : def().stations()) {
    EXPECT_TRUE(codes.emplace(station.code(), station.id()).second)
        << station.code();
  }
}

TEST_F(EmbeddedDefaultTest, DistrictsGetTheirExactHareShares) {
  const v1::DefinitionSpec spec = DefaultSpec();
  uint64_t voter_weights = 0;
  uint64_t station_weights = 0;
  for (const v1::DistrictPlan& plan : spec.districts()) {
    voter_weights += plan.voter_weight();
    station_weights += plan.station_weight();
  }
  const auto sums = SumByDistrict(def());
  ASSERT_EQ(sums.size(), 29u);
  for (const v1::DistrictPlan& plan : spec.districts()) {
    const DistrictSums& sum = sums.at(plan.district_id());
    EXPECT_TRUE(WithinOneOfShare(sum.voters, kRegisteredVoters - kAbroadVoters,
                                 plan.voter_weight(), voter_weights))
        << plan.district_id() << " voters " << sum.voters;
    EXPECT_TRUE(WithinOneOfShare(sum.stations, kDomesticStations,
                                 plan.station_weight(), station_weights))
        << plan.district_id() << " stations " << sum.stations;
  }
  // The published electorate of district 11 is its weight, and the weights
  // sum to within a few hundred of the domestic total, so the share is
  // close to it.
  EXPECT_NEAR(static_cast<double>(sums.at("d11").voters), 472572.0, 100.0);
}

TEST_F(EmbeddedDefaultTest, PassesDefinitionValidation) {
  EXPECT_TRUE(ValidateDefinition(def()).ok()) << ValidateDefinition(def());
}

TEST_F(EmbeddedDefaultTest, HasThePartyListAndTwentyNineDistrictContests) {
  ASSERT_EQ(def().contests_size(), 30);
  const v1::Contest& list = def().contests(0);
  EXPECT_EQ(list.id(), "mazhilis-list");
  EXPECT_EQ(list.kind(), v1::CONTEST_KIND_PARTY_LIST);
  EXPECT_TRUE(list.district_id().empty());
  EXPECT_EQ(list.seats(), 69u);
  EXPECT_EQ(list.choices_size(), 7);
  EXPECT_EQ(list.rule().method(), v1::ALLOCATION_METHOD_HARE);
  EXPECT_EQ(list.rule().threshold_percent(), "5");
  EXPECT_EQ(list.rule().threshold_base(), v1::VOTE_BASE_BALLOTS_CAST);
  EXPECT_EQ(list.rule().tie_rule(), v1::TIE_RULE_LOT);
  EXPECT_EQ(list.rule().tie_seed(), "kz-2023");
  EXPECT_TRUE(list.against_all_on_ballot());
  for (int n = 1; n <= 29; ++n) {
    const v1::Contest& smd = def().contests(n);
    EXPECT_EQ(smd.id(), absl::StrFormat("smd-%02d", n));
    EXPECT_EQ(smd.kind(), v1::CONTEST_KIND_SINGLE_MANDATE);
    EXPECT_EQ(smd.district_id(), absl::StrFormat("d%02d", n));
    EXPECT_EQ(smd.seats(), 1u);
    EXPECT_EQ(smd.rule().method(), v1::ALLOCATION_METHOD_PLURALITY);
    EXPECT_EQ(smd.choices_size(), 4);
    EXPECT_TRUE(smd.against_all_on_ballot());
  }
  EXPECT_EQ(def().validation().registered_matches(), v1::SEVERITY_ANOMALY);
  EXPECT_EQ(def().validation().votes_sum(), v1::SEVERITY_REJECT);
  EXPECT_EQ(def().validation().same_day_additions_basis_points(), 300u);
}

TEST_F(EmbeddedDefaultTest, EqualsTheSpecFileInTheSourceTree) {
  absl::StatusOr<v1::ElectionDefinition> from_file =
      GenerateDefinition(DefaultSpec());
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(DeterministicBytes(*from_file), DeterministicBytes(def()));
}

TEST(DefinitionGeneratorTest, SameSpecAndSeedGiveIdenticalBytes) {
  const v1::DefinitionSpec spec = DefaultSpec();
  absl::StatusOr<v1::ElectionDefinition> first = GenerateDefinition(spec);
  absl::StatusOr<v1::ElectionDefinition> second = GenerateDefinition(spec);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  const std::string bytes = DeterministicBytes(*first);
  EXPECT_GT(bytes.size(), 100'000u);
  EXPECT_EQ(bytes, DeterministicBytes(*second));
}

// Pinned from the generator and cross-checked against an independent
// implementation of the algorithm in deploy/elections/README.md. A change
// here changes the reference election on every machine: make it on purpose.
TEST(DefinitionGeneratorTest, PinnedFingerprintOfTheDefaultSeed) {
  absl::StatusOr<v1::ElectionDefinition> definition =
      GenerateDefinition(DefaultSpec());
  ASSERT_TRUE(definition.ok()) << definition.status();
  ASSERT_EQ(definition->stations_size(), 10310);
  EXPECT_EQ(definition->stations(0).registered_voters(), 1948u);
  EXPECT_EQ(definition->stations(499).registered_voters(), 1918u);
  EXPECT_EQ(definition->stations(10309).registered_voters(), 292u);
  // FNV-1a over every station's register, in station order.
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const v1::PollingStation& station : definition->stations()) {
    hash ^= station.registered_voters();
    hash *= 0x100000001b3ULL;
  }
  EXPECT_EQ(hash, 88788856638278069ULL);
}

TEST(DefinitionGeneratorTest, OtherSeedChangesStationSizesButNotTotals) {
  v1::DefinitionSpec spec = DefaultSpec();
  absl::StatusOr<v1::ElectionDefinition> base = GenerateDefinition(spec);
  spec.set_seed(spec.seed() + 1);
  absl::StatusOr<v1::ElectionDefinition> other = GenerateDefinition(spec);
  ASSERT_TRUE(base.ok()) << base.status();
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_EQ(base->stations_size(), other->stations_size());
  int changed = 0;
  uint64_t other_total = 0;
  for (int i = 0; i < other->stations_size(); ++i) {
    if (base->stations(i).registered_voters() !=
        other->stations(i).registered_voters()) {
      ++changed;
    }
    other_total += other->stations(i).registered_voters();
  }
  EXPECT_GT(changed, other->stations_size() * 9 / 10);
  EXPECT_EQ(other_total, kRegisteredVoters);
  // District totals and station counts depend on the weights only.
  const auto base_sums = SumByDistrict(*base);
  const auto other_sums = SumByDistrict(*other);
  ASSERT_EQ(base_sums.size(), other_sums.size());
  for (const auto& [district, sum] : base_sums) {
    EXPECT_EQ(other_sums.at(district).voters, sum.voters) << district;
    EXPECT_EQ(other_sums.at(district).stations, sum.stations) << district;
  }
}

TEST(DefinitionGeneratorTest, StationSizesStayWithinTheSpread) {
  v1::DefinitionSpec spec = DefaultSpec();
  spec.set_size_spread_percent(20);
  absl::StatusOr<v1::ElectionDefinition> definition = GenerateDefinition(spec);
  ASSERT_TRUE(definition.ok()) << definition.status();
  const auto sums = SumByDistrict(*definition);
  for (const v1::PollingStation& station : definition->stations()) {
    if (station.abroad()) continue;
    const DistrictSums& sum = sums.at(station.district_id());
    // Relative sizes lie in [80, 120] around a mean of 100, so no station
    // holds less than 80/120 or more than 120/80 of the district's average
    // (with a little room for the rounding to whole voters).
    const double average =
        static_cast<double>(sum.voters) / static_cast<double>(sum.stations);
    const double voters = static_cast<double>(station.registered_voters());
    EXPECT_GE(voters, average * 80 / 120 - 2) << station.id();
    EXPECT_LE(voters, average * 120 / 80 + 2) << station.id();
  }
}

TEST(DefinitionGeneratorTest, ZeroSpreadGivesEqualStationsWithinOneVoter) {
  v1::DefinitionSpec spec = SmallSpec();
  spec.set_size_spread_percent(0);
  absl::StatusOr<v1::ElectionDefinition> definition = GenerateDefinition(spec);
  ASSERT_TRUE(definition.ok()) << definition.status();
  absl::flat_hash_map<std::string, std::vector<uint64_t>> registers;
  for (const v1::PollingStation& station : definition->stations()) {
    registers[absl::StrCat(station.district_id(), station.abroad())].push_back(
        station.registered_voters());
  }
  ASSERT_EQ(registers.size(), 4u);
  for (const auto& [key, values] : registers) {
    const auto [min, max] = std::minmax_element(values.begin(), values.end());
    EXPECT_LE(*max - *min, 1u) << key;
  }
}

TEST(DefinitionGeneratorTest, SmallSpecLayout) {
  absl::StatusOr<v1::ElectionDefinition> definition =
      GenerateDefinition(SmallSpec());
  ASSERT_TRUE(definition.ok()) << definition.status();
  ASSERT_EQ(definition->stations_size(), 34);
  // Stations 2:1:3 of 30, voters 2:1:3 of 24000.
  const auto sums = SumByDistrict(*definition);
  EXPECT_EQ(sums.at("n1").stations, 10u);
  EXPECT_EQ(sums.at("n2").stations, 5u);
  EXPECT_EQ(sums.at("s1").stations, 15u);
  EXPECT_EQ(sums.at("n1").voters, 8000u);
  EXPECT_EQ(sums.at("n2").voters, 4000u);
  EXPECT_EQ(sums.at("s1").voters, 12000u);
  EXPECT_EQ(definition->stations(0).code(), "AT-N1-0001");
  EXPECT_EQ(definition->stations(14).code(), "AT-N2-0005");
  // No prefix, no code.
  EXPECT_EQ(definition->stations(15).code(), "");
  EXPECT_EQ(definition->stations(15).region_id(), "south");
  const v1::PollingStation& abroad = definition->stations(33);
  EXPECT_EQ(abroad.id(), 34u);
  EXPECT_TRUE(abroad.abroad());
  EXPECT_EQ(abroad.code(), "AT-ABR-0004");
  EXPECT_EQ(abroad.district_id(), "n1");
  EXPECT_EQ(abroad.region_id(), "north");
  uint64_t abroad_voters = 0;
  for (int i = 30; i < 34; ++i) {
    abroad_voters += definition->stations(i).registered_voters();
  }
  EXPECT_EQ(abroad_voters, 1000u);
}

TEST(DefinitionGeneratorTest, OneVoterPerStationIsEnough) {
  v1::DefinitionSpec spec = SmallSpec();
  spec.set_registered_voters(34);
  spec.set_abroad_registered_voters(4);
  spec.set_size_spread_percent(99);
  absl::StatusOr<v1::ElectionDefinition> definition = GenerateDefinition(spec);
  ASSERT_TRUE(definition.ok()) << definition.status();
  for (const v1::PollingStation& station : definition->stations()) {
    EXPECT_EQ(station.registered_voters(), 1u) << station.id();
  }
}

struct SpecErrorCase {
  std::string name;
  std::function<void(v1::DefinitionSpec&)> mutate;
  std::string message;
};

class SpecErrorTest : public ::testing::TestWithParam<SpecErrorCase> {};

TEST_P(SpecErrorTest, IsRejectedWithAMessageNamingTheProblem) {
  v1::DefinitionSpec spec = SmallSpec();
  GetParam().mutate(spec);
  absl::StatusOr<v1::ElectionDefinition> definition = GenerateDefinition(spec);
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(definition.status().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    AllErrors, SpecErrorTest,
    ::testing::Values(
        SpecErrorCase{"BaseHasStations",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_base()->add_stations()->set_id(1);
                      },
                      "base.stations must be empty (found 1)"},
        SpecErrorCase{"NoDomesticStations",
                      [](v1::DefinitionSpec& s) { s.set_domestic_stations(0); },
                      "domestic_stations must be at least 1"},
        SpecErrorCase{"TooManyStations",
                      [](v1::DefinitionSpec& s) {
                        s.set_domestic_stations(4'000'000'000u);
                      },
                      "domestic_stations + abroad_stations must be at most "
                      "2000000"},
        SpecErrorCase{"NoVoters",
                      [](v1::DefinitionSpec& s) { s.set_registered_voters(0); },
                      "registered_voters must be at least 1"},
        SpecErrorCase{"TooManyVoters",
                      [](v1::DefinitionSpec& s) {
                        s.set_registered_voters(uint64_t{1} << 32);
                      },
                      "registered_voters must be at most 4294967295"},
        SpecErrorCase{"AbroadExceedsTotal",
                      [](v1::DefinitionSpec& s) {
                        s.set_abroad_registered_voters(25001);
                      },
                      "abroad_registered_voters (25001) exceeds "
                      "registered_voters (25000)"},
        SpecErrorCase{"FewerDomesticVotersThanStations",
                      [](v1::DefinitionSpec& s) {
                        s.set_abroad_registered_voters(24980);
                      },
                      "registered_voters - abroad_registered_voters (20) is "
                      "less than domestic_stations (30)"},
        SpecErrorCase{
            "AbroadVotersWithoutStations",
            [](v1::DefinitionSpec& s) { s.set_abroad_stations(0); },
            "abroad_registered_voters is 1000 but abroad_stations is 0"},
        SpecErrorCase{
            "FewerAbroadVotersThanStations",
            [](v1::DefinitionSpec& s) { s.set_abroad_registered_voters(3); },
            "abroad_registered_voters (3) is less than "
            "abroad_stations (4)"},
        SpecErrorCase{
            "SpreadTooLarge",
            [](v1::DefinitionSpec& s) { s.set_size_spread_percent(100); },
            "size_spread_percent (100) must be at most 99"},
        SpecErrorCase{"NoPlans",
                      [](v1::DefinitionSpec& s) { s.clear_districts(); },
                      "districts: at least one district plan is required"},
        SpecErrorCase{"DuplicateBaseDistrict",
                      [](v1::DefinitionSpec& s) {
                        *s.mutable_base()->add_districts() =
                            s.base().districts(0);
                      },
                      "base.districts[3] (\"n1\"): id is already used by "
                      "base.districts[0]"},
        SpecErrorCase{"UnknownPlannedDistrict",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(1)->set_district_id("w9");
                      },
                      "districts[1] (\"w9\"): district_id is not in "
                      "base.districts"},
        SpecErrorCase{"DistrictPlannedTwice",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(2)->set_district_id("n1");
                        s.mutable_districts(2)->set_code_prefix("");
                      },
                      "districts[2] (\"n1\"): district is already planned by "
                      "districts[0]"},
        SpecErrorCase{"ZeroVoterWeight",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(1)->set_voter_weight(0);
                      },
                      "districts[1] (\"n2\"): voter_weight must be positive"},
        SpecErrorCase{"ZeroStationWeight",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(2)->set_station_weight(0);
                      },
                      "districts[2] (\"s1\"): station_weight must be "
                      "positive"},
        SpecErrorCase{"DuplicateCodePrefix",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(1)->set_code_prefix("AT-N1");
                      },
                      "districts[1] (\"n2\"): code_prefix \"AT-N1\" is "
                      "already used by districts[0]"},
        SpecErrorCase{"WeightsTooLarge",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(1)->set_voter_weight(uint64_t{1}
                                                                 << 40);
                      },
                      "districts[1] (\"n2\"): the sums of voter_weight and of "
                      "station_weight must each be at most 1099511627776"},
        SpecErrorCase{"WeightsOverflow",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(2)->set_station_weight(
                            ~uint64_t{0});
                      },
                      "districts[2] (\"s1\"): the sums of voter_weight"},
        SpecErrorCase{
            "DistrictWithoutPlan",
            [](v1::DefinitionSpec& s) { s.mutable_districts()->RemoveLast(); },
            "base.districts[2] (\"s1\") has no plan in districts"},
        SpecErrorCase{
            "UnknownAbroadDistrict",
            [](v1::DefinitionSpec& s) { s.set_abroad_district_id("nowhere"); },
            "abroad_district_id \"nowhere\" is not in "
            "base.districts"},
        SpecErrorCase{
            "MissingAbroadDistrict",
            [](v1::DefinitionSpec& s) { s.clear_abroad_district_id(); },
            "abroad_district_id \"\" is not in base.districts"},
        SpecErrorCase{"DistrictWithoutStations",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(1)->set_station_weight(1);
                        s.mutable_districts(0)->set_station_weight(1000);
                        s.mutable_districts(2)->set_station_weight(1000);
                      },
                      "district \"n2\" gets no polling station"},
        SpecErrorCase{"DistrictWithTooFewVoters",
                      [](v1::DefinitionSpec& s) {
                        s.mutable_districts(1)->set_voter_weight(1);
                        s.mutable_districts(0)->set_voter_weight(10000);
                        s.mutable_districts(2)->set_voter_weight(10000);
                      },
                      "district \"n2\" gets 1 registered voters for 5 "
                      "stations"},
        SpecErrorCase{
            "InvalidBase",
            [](v1::DefinitionSpec& s) { s.mutable_base()->clear_contests(); },
            "generated definition is invalid: election: at least one "
            "contest is required"}),
    [](const ::testing::TestParamInfo<SpecErrorCase>& info) {
      return info.param.name;
    });

struct ParseErrorCase {
  std::string name;
  std::string json;
  std::string message;
};

class SpecParseErrorTest : public ::testing::TestWithParam<ParseErrorCase> {};

TEST_P(SpecParseErrorTest, IsRejected) {
  absl::StatusOr<v1::DefinitionSpec> spec =
      ParseDefinitionSpecJson(GetParam().json);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(),
              HasSubstr("definition spec: invalid JSON: "));
  EXPECT_THAT(spec.status().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    AllErrors, SpecParseErrorTest,
    ::testing::Values(
        ParseErrorCase{"Empty", "", "Unexpected end of string"},
        ParseErrorCase{"NotJson", "seed = 3", "Unexpected token"},
        ParseErrorCase{"Truncated", R"({"seed": 3, "districts": [)",
                       "Unexpected end of string"},
        ParseErrorCase{"UnknownField", R"({"seed": 3, "sead": 4})",
                       "sead: Cannot find field"},
        ParseErrorCase{"UnknownNestedField",
                       R"({"districts": [{"district_id": "a", "weight": 1}]})",
                       "(districts[0]) weight: Cannot find field"},
        ParseErrorCase{"WrongType", R"({"domestic_stations": "many"})",
                       "domestic_stations"},
        ParseErrorCase{"NegativeCount", R"({"abroad_stations": -1})",
                       "abroad_stations"},
        ParseErrorCase{"UnknownEnum",
                       R"({"base": {"contests": [{"kind": "LOTTERY"}]}})",
                       "LOTTERY"}),
    [](const ::testing::TestParamInfo<ParseErrorCase>& info) {
      return info.param.name;
    });

TEST(ParseDefinitionSpecJsonTest, AcceptsProtoFieldNamesAndStringNumbers) {
  absl::StatusOr<v1::DefinitionSpec> spec = ParseDefinitionSpecJson(
      R"({"seed": "18446744073709551615", "size_spread_percent": 60,
          "districts": [{"district_id": "a", "voter_weight": "12"}]})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->seed(), ~uint64_t{0});
  EXPECT_EQ(spec->size_spread_percent(), 60u);
  ASSERT_EQ(spec->districts_size(), 1);
  EXPECT_EQ(spec->districts(0).voter_weight(), 12u);
}

}  // namespace
}  // namespace tally
