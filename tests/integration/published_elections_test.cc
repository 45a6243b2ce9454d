// The other published elections of deploy/elections, each played through
// real processes as deployed: one tally-aggregator and one tally-collector
// per region, all on the definition generated from NAME.spec.json, and
// `tallyctl simulate --definition --target NAME.result.json` as the
// station clients. Every night must end on the official result: totals
// equal to the generator's truth for every scope, the official seats (or
// winner), the published percentages, and a recount without differences.
// A presidential night in which nobody has a majority of the ballots cast
// ends with a runoff of the top two.
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/election_loader.h"
#include "services/domain/proto_json.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tests/support/election_checks.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using rpc::MakeChannel;
using testing::DeadlineContext;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 7;
// Generous for the sanitizer build on two cores.
constexpr absl::Duration kCallTimeout = absl::Seconds(60);
constexpr absl::Duration kStartTimeout = absl::Minutes(2);
constexpr absl::Duration kNightTimeout = absl::Minutes(8);
constexpr absl::Duration kDrainTimeout = absl::Minutes(4);

std::string ResultFile(const std::string& name) {
  return absl::StrCat(TALLY_SOURCE_DIR, "/deploy/elections/", name,
                      ".result.json");
}

// A cluster of real processes on one published election's definition.
class PublishedNight {
 public:
  // Writes the definition and starts the aggregator and a collector per
  // region (gtest assertions).
  void Start(const testing::ReferenceElection& ref, const std::string& dir) {
    dir_ = dir;
    absl::StatusOr<std::string> json =
        DefinitionToJson(ref.index->definition());
    ASSERT_TRUE(json.ok()) << json.status();
    std::ofstream(DefinitionFile()) << *json;
    absl::StatusOr<testing::Server> aggregator = testing::StartServer(
        AGGREGATOR_PATH,
        {"--data_dir", dir_ + "/aggregator", "--listen", "127.0.0.1:0",
         "--definition", DefinitionFile(), "--insecure"},
        dir_ + ".aggregator.log", kStartTimeout);
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    aggregator_ = std::make_unique<testing::Server>(*std::move(aggregator));
    stub_ = v1::Aggregator::NewStub(MakeChannel(aggregator_->address));
    std::ofstream file(CollectorsFile());
    for (const v1::Region& region : ref.index->definition().regions()) {
      absl::StatusOr<testing::Server> collector = testing::StartServer(
          COLLECTOR_PATH,
          {"--region", region.id(), "--data_dir",
           dir_ + "/collector-" + region.id(), "--listen", "127.0.0.1:0",
           "--aggregator", aggregator_->address, "--definition",
           DefinitionFile(), "--insecure"},
          dir_ + ".collector-" + region.id() + ".log", kStartTimeout);
      ASSERT_TRUE(collector.ok()) << collector.status();
      file << region.id() << "=" << collector->address << "\n";
      collectors_[region.id()] =
          std::make_unique<testing::Server>(*std::move(collector));
    }
  }

  // `tallyctl simulate` of the whole night towards `target_file`, as fast
  // as possible, with corrections and duplicates.
  void Simulate(const std::string& target_file) {
    absl::StatusOr<testing::CommandResult> night = testing::RunCommand(
        TALLYCTL_PATH,
        {"simulate", "--definition", DefinitionFile(), "--target", target_file,
         "--collectors_file", CollectorsFile(), "--seed", absl::StrCat(kSeed),
         "--corrections_percent", "3", "--duplicates_percent", "2", "--speed",
         "0", "--insecure"},
        kNightTimeout);
    ASSERT_TRUE(night.ok()) << night.status();
    ASSERT_EQ(night->exit_code, 0) << night->output;
    EXPECT_THAT(night->output, HasSubstr(absl::StrCat("to ", collectors_.size(),
                                                      " collectors")));
    EXPECT_THAT(night->output, HasSubstr(" 0 rejected"));
  }

  // Every collector's outbox is empty and acknowledged; then every result.
  absl::StatusOr<v1::GetResultsResponse> FinalResults() {
    const absl::Time deadline = absl::Now() + kDrainTimeout;
    for (const auto& [region, server] : collectors_) {
      auto stub = v1::Collector::NewStub(MakeChannel(server->address));
      while (true) {
        v1::CollectorStatus status;
        const grpc::Status rpc =
            stub->GetCollectorStatus(DeadlineContext(kCallTimeout).get(),
                                     v1::GetCollectorStatusRequest(), &status);
        if (rpc.ok() && status.outbox_depth() == 0 &&
            status.last_acked_seq() == status.last_seq()) {
          break;
        }
        if (absl::Now() > deadline) {
          return absl::DeadlineExceededError(absl::StrCat(
              region, " not drained: ", status.ShortDebugString()));
        }
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
    return testing::AllResults(*stub_, kCallTimeout);
  }

  v1::Aggregator::Stub& stub() { return *stub_; }
  std::string DefinitionFile() const { return dir_ + "/definition.json"; }
  std::string CollectorsFile() const { return dir_ + "/collectors.txt"; }

 private:
  std::string dir_;
  std::unique_ptr<testing::Server> aggregator_;
  std::unique_ptr<v1::Aggregator::Stub> stub_;
  std::map<std::string, std::unique_ptr<testing::Server>> collectors_;
};

class PublishedElectionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(GetParam()); }
  void TearDown() override { testing::RemoveTempDirUnlessFailed(dir_); }
  std::string dir_;
};

TEST_P(PublishedElectionTest, NightEndsOnTheOfficialResult) {
  const testing::ReferenceElection& ref =
      testing::PublishedElection(GetParam(), kSeed);
  ASSERT_TRUE(ref.status.ok()) << ref.status;
  PublishedNight night;
  ASSERT_NO_FATAL_FAILURE(night.Start(ref, dir_));
  ASSERT_NO_FATAL_FAILURE(night.Simulate(ResultFile(GetParam())));
  absl::StatusOr<v1::GetResultsResponse> results = night.FinalResults();
  ASSERT_TRUE(results.ok()) << results.status();
  testing::ExpectAllTotalsEqualTruth(ref, *results);
  testing::ExpectOfficialOutcome(ref, *results);
  testing::ExpectOfficialPercentages(ref, *results);
  absl::StatusOr<v1::VerifyResponse> verified =
      testing::VerifyOnline(night.stub(), absl::Minutes(5));
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_THAT(verified->differences(), ::testing::IsEmpty());
  EXPECT_EQ(verified->protocols_counted(), ref.truth.size());
}

INSTANTIATE_TEST_SUITE_P(Elections, PublishedElectionTest,
                         ::testing::Values("kz-2021", "kz-2022"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// The 2022 presidential definition with a night in which the leader has
// more than half of the votes for candidates and against all but not of the
// ballots cast (the majority base): a runoff of the top two.
TEST(PublishedElectionRunoffTest, NoMajorityOfBallotsCastGoesToRunoff) {
  const testing::ReferenceElection& ref =
      testing::PublishedElection("kz-2022", kSeed);
  ASSERT_TRUE(ref.status.ok()) << ref.status;
  const std::string dir = testing::MakeTempDir("kz-2022-runoff");
  v1::ResultTarget target;
  target.set_contest_id("president");
  const std::map<std::string, uint64_t> votes = {
      {"tokayev", 4000000}, {"dairabayev", 1500000}, {"abden", 900000},
      {"kazhyken", 700000}, {"auesbayev", 400000},   {"tursynbekova", 300000}};
  for (const auto& [choice, count] : votes) {
    (*target.mutable_votes())[choice] = count;
  }
  target.set_against_all(140477);
  target.set_invalid(359569);
  target.set_ballots_issued(8300046);
  absl::StatusOr<std::string> json = ToJson(target);
  ASSERT_TRUE(json.ok()) << json.status();
  const std::string target_file = dir + "/runoff.result.json";
  std::ofstream(target_file) << *json;

  PublishedNight night;
  ASSERT_NO_FATAL_FAILURE(night.Start(ref, dir));
  ASSERT_NO_FATAL_FAILURE(night.Simulate(target_file));
  absl::StatusOr<v1::GetResultsResponse> results = night.FinalResults();
  ASSERT_TRUE(results.ok()) << results.status();
  const v1::ContestResults* national = nullptr;
  for (const v1::ContestResults& entry : results->results()) {
    if (entry.totals().contest_id() == "president" &&
        entry.totals().scope().kind() == v1::SCOPE_KIND_NATIONAL) {
      national = &entry;
    }
  }
  ASSERT_NE(national, nullptr);
  EXPECT_EQ(national->totals().stations_reported(),
            national->totals().stations_expected());
  for (const v1::ChoiceTotal& choice : national->totals().choices()) {
    EXPECT_EQ(choice.votes(), votes.at(choice.choice_id()))
        << choice.choice_id();
  }
  ASSERT_TRUE(national->has_allocation());
  const v1::SeatAllocation& allocation = national->allocation();
  EXPECT_FALSE(allocation.provisional());
  EXPECT_EQ(allocation.status(), v1::ALLOCATION_STATUS_RUNOFF_REQUIRED);
  EXPECT_THAT(allocation.runoff_choice_ids(),
              ElementsAre("tokayev", "dairabayev"));
  for (const v1::ChoiceSeats& choice : allocation.choices()) {
    EXPECT_EQ(choice.seats(), 0u) << choice.choice_id();
  }
  testing::RemoveTempDirUnlessFailed(dir);
}

}  // namespace
}  // namespace tally
