// The whole election night through real processes, as deployed: one
// tally-aggregator, one tally-collector per region, and `tallyctl simulate`
// / `tallyctl submit` as the station clients. Every night must end with
// totals equal to the generator's truth for every contest and scope, the
// official party-list seats, and a recount without differences - also when
// the aggregator is down for part of the night and when a collector is
// killed while it is taking submissions and forwarding them.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/simulator/night_generator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tests/support/election_checks.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"

namespace tally {
namespace {

using rpc::MakeChannel;
using testing::DeadlineContext;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 2023;
constexpr uint32_t kCorrectionsPercent = 5;
constexpr uint32_t kDuplicatesPercent = 5;
constexpr size_t kProtocols = 20620;  // 10,310 list + 10,310 district
// Generous for the sanitizer build on two cores.
constexpr absl::Duration kCallTimeout = absl::Seconds(60);
constexpr absl::Duration kStartTimeout = absl::Minutes(2);
constexpr absl::Duration kNightTimeout = absl::Minutes(8);
constexpr absl::Duration kDrainTimeout = absl::Minutes(4);

// The port of a HOST:PORT address, to restart a server where its clients
// expect it.
std::string PortOf(const std::string& address) {
  return address.substr(address.rfind(':') + 1);
}

class ElectionNightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ref_ = &testing::Reference(kSeed, testing::Truth::kOfficialResult);
    ASSERT_TRUE(ref_->status.ok()) << ref_->status;
    ASSERT_EQ(ref_->truth.size(), kProtocols);
    sim::NightOptions night;
    night.seed = kSeed;
    night.targets = {ref_->target};
    night.correction_percent = kCorrectionsPercent;
    night.duplicate_percent = kDuplicatesPercent;
    for (const sim::Submission& submission :
         sim::PlanNight(*ref_->index, ref_->truth, night)) {
      if (!submission.duplicate && submission.protocol.version() == 2) {
        ++planned_corrections_;
      }
    }
    ASSERT_GT(planned_corrections_, kProtocols / 40);

    dir_ = testing::MakeTempDir("night");
    ASSERT_NO_FATAL_FAILURE(StartAggregator("127.0.0.1:0"));
    std::ofstream file(CollectorsFile());
    for (const v1::Region& region : ref_->index->definition().regions()) {
      ASSERT_NO_FATAL_FAILURE(StartCollector(region.id(), "127.0.0.1:0"));
      file << region.id() << "=" << collectors_.at(region.id())->address
           << "\n";
    }
    ASSERT_EQ(collectors_.size(), 20u);
  }

  void TearDown() override { testing::RemoveTempDirUnlessFailed(dir_); }

  std::string CollectorsFile() const { return dir_ + "/collectors.txt"; }

  std::string NextLog(const std::string& name) {
    return absl::StrCat(dir_, ".", name, ".", ++starts_, ".log");
  }

  void StartAggregator(const std::string& listen) {
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH,
        {"--data_dir", dir_ + "/aggregator", "--listen", listen, "--insecure"},
        NextLog("aggregator"), kStartTimeout);
    ASSERT_TRUE(server.ok()) << server.status();
    aggregator_ = std::make_unique<testing::Server>(*std::move(server));
    aggregator_stub_ =
        v1::Aggregator::NewStub(MakeChannel(aggregator_->address));
  }

  void StartCollector(const std::string& region, const std::string& listen) {
    absl::StatusOr<testing::Server> server = testing::StartServer(
        COLLECTOR_PATH,
        {"--region", region, "--data_dir", dir_ + "/collector-" + region,
         "--listen", listen, "--aggregator", aggregator_->address,
         "--insecure"},
        NextLog("collector-" + region), kStartTimeout);
    ASSERT_TRUE(server.ok()) << server.status();
    collectors_[region] = std::make_unique<testing::Server>(*std::move(server));
  }

  absl::StatusOr<v1::CollectorStatus> CollectorStatus(
      const std::string& region) {
    auto stub =
        v1::Collector::NewStub(MakeChannel(collectors_.at(region)->address));
    v1::CollectorStatus status;
    const grpc::Status rpc =
        stub->GetCollectorStatus(DeadlineContext(kCallTimeout).get(),
                                 v1::GetCollectorStatusRequest(), &status);
    if (!rpc.ok()) return absl::UnavailableError(rpc.error_message());
    return status;
  }

  // Entries in all outboxes not yet acknowledged by the aggregator.
  uint64_t OutboxDepth() {
    uint64_t depth = 0;
    for (const auto& [region, server] : collectors_) {
      absl::StatusOr<v1::CollectorStatus> status = CollectorStatus(region);
      EXPECT_TRUE(status.ok()) << region << ": " << status.status();
      if (status.ok()) depth += status->outbox_depth();
    }
    return depth;
  }

  // Waits until every collector's outbox is empty and acknowledged up to
  // its last sequence number.
  void WaitDrained() {
    const absl::Time deadline = absl::Now() + kDrainTimeout;
    for (const auto& [region, server] : collectors_) {
      v1::CollectorStatus status;
      while (true) {
        absl::StatusOr<v1::CollectorStatus> got = CollectorStatus(region);
        if (got.ok()) {
          status = *got;
          if (status.outbox_depth() == 0 &&
              status.last_acked_seq() == status.last_seq()) {
            break;
          }
        }
        ASSERT_LT(absl::Now(), deadline)
            << region << " not drained: " << status.ShortDebugString() << "\n"
            << server->process.log();
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  }

  std::vector<std::string> SimulateArgs(double speed) const {
    return {"simulate", "--collectors_file", CollectorsFile(), "--seed",
            absl::StrCat(kSeed), "--corrections_percent",
            absl::StrCat(kCorrectionsPercent), "--duplicates_percent",
            absl::StrCat(kDuplicatesPercent), "--speed", absl::StrCat(speed),
            // Rides out a collector restart: about a minute of backoff.
            "--max_attempts", "14", "--insecure"};
  }

  // Stations with a counted national-list protocol.
  uint64_t ListStationsReported() {
    v1::GetResultsRequest request;
    request.set_contest_id("mazhilis-list");
    v1::GetResultsResponse response;
    const grpc::Status status = aggregator_stub_->GetResults(
        DeadlineContext(kCallTimeout).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (response.results_size() != 1) return 0;
    return response.results(0).totals().stations_reported();
  }

  // The final state is exactly the truth: every total, the official seats,
  // each protocol counted once, each accepted version stored once, and a
  // recount from the stored protocols without differences.
  void ExpectExactNight() {
    ASSERT_NO_FATAL_FAILURE(WaitDrained());
    absl::StatusOr<v1::GetResultsResponse> results =
        testing::AllResults(*aggregator_stub_, kCallTimeout);
    ASSERT_TRUE(results.ok()) << results.status();
    testing::ExpectAllTotalsEqualTruth(*ref_, *results);
    testing::ExpectOfficialListSeats(*results);
    testing::ExpectOfficialPercentages(*ref_, *results);
    testing::ExpectOfficialComposition(*ref_, *results);
    absl::StatusOr<v1::VerifyResponse> verified =
        testing::VerifyOnline(*aggregator_stub_, absl::Minutes(5));
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_THAT(verified->differences(), ::testing::IsEmpty());
    EXPECT_EQ(verified->protocols_counted(), kProtocols);
    EXPECT_EQ(verified->protocol_versions(), kProtocols + planned_corrections_);
  }

  const testing::ReferenceElection* ref_ = nullptr;
  size_t planned_corrections_ = 0;
  std::string dir_;
  int starts_ = 0;
  std::unique_ptr<testing::Server> aggregator_;
  std::unique_ptr<v1::Aggregator::Stub> aggregator_stub_;
  std::map<std::string, std::unique_ptr<testing::Server>> collectors_;
};

TEST_F(ElectionNightTest, WholeNightThroughAllCollectorsIsExact) {
  absl::StatusOr<testing::CommandResult> night =
      testing::RunCommand(TALLYCTL_PATH, SimulateArgs(0), kNightTimeout);
  ASSERT_TRUE(night.ok()) << night.status();
  ASSERT_EQ(night->exit_code, 0) << night->output;
  EXPECT_THAT(night->output, HasSubstr("to 20 collectors"));
  EXPECT_THAT(night->output, HasSubstr(" 0 rejected"));
  ExpectExactNight();
}

// The aggregator goes away between the first and the second half of the
// night's files: the collectors keep acknowledging, their outboxes grow,
// and they drain into the restarted aggregator.
TEST_F(ElectionNightTest, AggregatorOutageMidNightDrainsExactly) {
  const std::string files = dir_ + "/protocols";
  std::vector<std::string> write = SimulateArgs(0);
  write.insert(write.end(), {"--write_dir", files});
  absl::StatusOr<testing::CommandResult> written =
      testing::RunCommand(TALLYCTL_PATH, write, kNightTimeout);
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_EQ(written->exit_code, 0) << written->output;

  // Half of every region's night (each file is in reporting order, so the
  // halves keep a station's versions in order), as `tallyctl submit`
  // files.
  std::map<std::string, std::pair<std::string, std::string>> halves;
  for (const auto& [region, server] : collectors_) {
    std::ifstream in(files + "/" + region + ".jsonl");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    ASSERT_GT(lines.size(), 10u) << region;
    const std::string first = absl::StrCat(files, "/", region, ".1.jsonl");
    const std::string second = absl::StrCat(files, "/", region, ".2.jsonl");
    std::ofstream a(first), b(second);
    for (size_t i = 0; i < lines.size(); ++i) {
      (i < lines.size() / 2 ? a : b) << lines[i] << "\n";
    }
    halves[region] = {first, second};
  }
  auto submit_all = [&](bool first_half) {
    for (const auto& [region, paths] : halves) {
      absl::StatusOr<testing::CommandResult> sent =
          testing::RunCommand(TALLYCTL_PATH,
                              {"submit", "--insecure", "--collector",
                               collectors_.at(region)->address,
                               first_half ? paths.first : paths.second},
                              kNightTimeout);
      ASSERT_TRUE(sent.ok()) << sent.status();
      ASSERT_EQ(sent->exit_code, 0) << region << ": " << sent->output;
      EXPECT_THAT(sent->output, HasSubstr(" 0 rejected")) << sent->output;
    }
  };
  ASSERT_NO_FATAL_FAILURE(submit_all(true));
  EXPECT_GT(ListStationsReported(), 0u);

  // Outage: killed, not stopped, while the collectors may be forwarding.
  const std::string port = PortOf(aggregator_->address);
  aggregator_stub_.reset();
  aggregator_->process.Signal(SIGKILL);
  ASSERT_TRUE(aggregator_->process.Wait(kStartTimeout).ok());
  ASSERT_NO_FATAL_FAILURE(submit_all(false));
  // The second half is acknowledged and waits in the outboxes.
  EXPECT_GT(OutboxDepth(), 0u);
  for (const auto& [region, server] : collectors_) {
    absl::StatusOr<v1::CollectorStatus> status = CollectorStatus(region);
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_FALSE(status->aggregator_connected()) << region;
  }

  ASSERT_NO_FATAL_FAILURE(StartAggregator("127.0.0.1:" + port));
  ExpectExactNight();
}

// A collector is killed twice while the night is played against it: once
// early, once later, each time while station clients are submitting and
// while it is forwarding. The clients retry; the restarted collector keeps
// everything it acknowledged and nothing is counted twice.
TEST_F(ElectionNightTest, CollectorCrashesMidNightLoseNothing) {
  // The region with the most protocols takes the crashes.
  std::map<std::string, size_t> per_region;
  for (const v1::StationProtocol& protocol : ref_->truth) {
    ++per_region[ref_->index->FindStation(protocol.station_id())->region_id()];
  }
  const auto busiest = std::max_element(
      per_region.begin(), per_region.end(),
      [](const auto& a, const auto& b) { return a.second < b.second; });
  const std::string region = busiest->first;
  const size_t region_protocols = busiest->second;

  // About ten seconds of night: 340 simulated minutes at speed 2000.
  absl::StatusOr<testing::Process> night = testing::Process::Start(
      TALLYCTL_PATH, SimulateArgs(2000), dir_ + ".simulate.log");
  ASSERT_TRUE(night.ok()) << night.status();

  for (const double share : {0.2, 0.6}) {
    const uint64_t wanted = static_cast<uint64_t>(share * region_protocols);
    const absl::Time deadline = absl::Now() + kNightTimeout;
    uint64_t last_seq = 0;
    while (last_seq < wanted) {
      ASSERT_LT(absl::Now(), deadline)
          << "collector " << region << " stuck at seq " << last_seq;
      absl::StatusOr<v1::CollectorStatus> status = CollectorStatus(region);
      if (status.ok()) last_seq = status->last_seq();
      absl::SleepFor(absl::Milliseconds(20));
    }
    const std::string port = PortOf(collectors_.at(region)->address);
    collectors_.at(region)->process.Signal(SIGKILL);
    ASSERT_TRUE(collectors_.at(region)->process.Wait(kStartTimeout).ok());
    ASSERT_NO_FATAL_FAILURE(StartCollector(region, "127.0.0.1:" + port));
    absl::StatusOr<v1::CollectorStatus> status = CollectorStatus(region);
    ASSERT_TRUE(status.ok()) << status.status();
    // Everything acknowledged before the kill is still there.
    EXPECT_GE(status->last_seq(), wanted);
  }

  absl::StatusOr<int> exit_code = night->Wait(kNightTimeout);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  ASSERT_EQ(*exit_code, 0) << night->log();
  EXPECT_THAT(night->log(), HasSubstr(" 0 rejected"));
  ExpectExactNight();
}

}  // namespace
}  // namespace tally
