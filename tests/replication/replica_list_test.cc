// The clients of a replicated aggregator, given the whole replica list,
// through a night in which the leader is killed: twenty real collectors
// (`--aggregator A,B,C`), a relay (`--upstream A,B,C`) and a gateway
// (`--upstream A,B,C`, its feed from the same list), with `tallyctl
// simulate` as the station clients. Nobody is told who leads or that it
// changed. The night must end exact on every replica (every total, the
// official seats, every protocol counted once, a clean verify), and the
// relay's Watch stream and the gateway's SSE stream must each carry every
// revision exactly once, in order: no gap and no repeat across the
// failover.
#include <signal.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/simulator/night_generator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tests/gateway/sse_client.h"
#include "tests/support/election_checks.h"
#include "tests/support/feed_client.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"
#include "tests/support/replicated_cluster.h"

namespace tally {
namespace {

using rpc::MakeChannel;
using testing::DeadlineContext;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 2023;
constexpr uint32_t kCorrectionsPercent = 5;
constexpr uint32_t kDuplicatesPercent = 5;
constexpr size_t kProtocols = 20620;  // 10,310 list + 10,310 district
// The leader dies once this many stations have a counted list protocol
// (of 10,310): well inside the night, with collectors mid-stream.
constexpr uint64_t kKillAtStations = 3000;
// Generous for the sanitizer build on two cores.
constexpr absl::Duration kCallTimeout = absl::Seconds(60);
constexpr absl::Duration kStartTimeout = absl::Minutes(2);
constexpr absl::Duration kNightTimeout = absl::Minutes(10);
constexpr absl::Duration kDrainTimeout = absl::Minutes(5);

class ReplicaListTest : public ::testing::Test {
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
    dir_ = testing::MakeTempDir("replica-list");

    testing::ReplicatedClusterOptions options;
    options.aggregator_binary = AGGREGATOR_PATH;
    options.dir = dir_;
    absl::StatusOr<std::unique_ptr<testing::ReplicatedCluster>> cluster =
        testing::ReplicatedCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  void TearDown() override {
    collectors_.clear();
    relay_.reset();
    gateway_.reset();
    cluster_.reset();
    testing::RemoveTempDirUnlessFailed(dir_);
  }

  std::string NextLog(const std::string& name) {
    return absl::StrCat(dir_, ".", name, ".", ++starts_, ".log");
  }

  std::unique_ptr<testing::Server> Start(const std::string& name,
                                         const std::string& binary,
                                         const std::vector<std::string>& args) {
    absl::StatusOr<testing::Server> server =
        testing::StartServer(binary, args, NextLog(name), kStartTimeout);
    EXPECT_TRUE(server.ok()) << name << ": " << server.status();
    if (!server.ok()) return nullptr;
    return std::make_unique<testing::Server>(*std::move(server));
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

  // Every collector's outbox empty and acknowledged to its last sequence.
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
        absl::SleepFor(absl::Milliseconds(100));
      }
    }
  }

  // Stations with a counted national-list protocol on replica `i`, 0 when
  // it does not answer.
  uint64_t ListStationsReported(int i) {
    v1::GetResultsRequest request;
    request.set_contest_id("mazhilis-list");
    v1::GetResultsResponse response;
    const grpc::Status status = cluster_->stub(i).GetResults(
        DeadlineContext(kCallTimeout).get(), request, &response);
    if (!status.ok() || response.results_size() != 1) return 0;
    return response.results(0).totals().stations_reported();
  }

  // Replica `i` holds exactly the night: every total, the official seats,
  // each protocol counted once, each accepted version stored once.
  void ExpectExactNight(int i, uint64_t revision) {
    SCOPED_TRACE(absl::StrCat("replica r", i));
    absl::StatusOr<v1::GetResultsResponse> results =
        testing::AllResults(cluster_->stub(i), kCallTimeout);
    ASSERT_TRUE(results.ok()) << results.status();
    EXPECT_EQ(results->revision(), revision);
    testing::ExpectAllTotalsEqualTruth(*ref_, *results);
    testing::ExpectOfficialListSeats(*results);
    testing::ExpectOfficialPercentages(*ref_, *results);
    absl::StatusOr<v1::VerifyResponse> verified =
        testing::VerifyOnline(cluster_->stub(i), absl::Minutes(5));
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_THAT(verified->differences(), ::testing::IsEmpty());
    EXPECT_EQ(verified->revision(), revision);
    EXPECT_EQ(verified->protocols_counted(), kProtocols);
    EXPECT_EQ(verified->protocol_versions(), kProtocols + planned_corrections_);
  }

  const testing::ReferenceElection* ref_ = nullptr;
  size_t planned_corrections_ = 0;
  std::string dir_;
  int starts_ = 0;
  std::unique_ptr<testing::ReplicatedCluster> cluster_;
  std::map<std::string, std::unique_ptr<testing::Server>> collectors_;
  std::unique_ptr<testing::Server> relay_;
  std::unique_ptr<testing::Server> gateway_;
};

// The revisions of the events read from `next` up to `last`: each must be
// the one after the previous, starting after `from`.
template <typename NextRevision>
void ExpectEveryRevisionOnce(const std::string& who, uint64_t from,
                             uint64_t last, NextRevision next) {
  uint64_t expected = from + 1;
  while (expected <= last) {
    absl::StatusOr<uint64_t> revision = next();
    ASSERT_TRUE(revision.ok()) << who << " waiting for revision " << expected
                               << ": " << revision.status();
    ASSERT_EQ(*revision, expected)
        << who << (*revision < expected ? " repeated" : " skipped to")
        << " a revision";
    ++expected;
  }
}

TEST_F(ReplicaListTest, CollectorsRelayAndGatewayFollowTheLeaderThroughAKill) {
  absl::StatusOr<int> leader = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(leader.ok()) << leader.status();
  const std::string replicas = cluster_->addresses();

  std::ofstream collectors_file(dir_ + "/collectors.txt");
  for (const v1::Region& region : ref_->index->definition().regions()) {
    std::unique_ptr<testing::Server> collector =
        Start("collector-" + region.id(), COLLECTOR_PATH,
              {"--region", region.id(), "--data_dir",
               dir_ + "/collector-" + region.id(), "--listen", "127.0.0.1:0",
               "--aggregator", replicas, "--insecure"});
    ASSERT_NE(collector, nullptr);
    collectors_file << region.id() << "=" << collector->address << "\n";
    collectors_[region.id()] = std::move(collector);
  }
  collectors_file.close();
  relay_ =
      Start("relay", RELAY_PATH,
            {"--listen", "127.0.0.1:0", "--upstream", replicas, "--insecure"});
  ASSERT_NE(relay_, nullptr);
  gateway_ =
      Start("gateway", GATEWAY_PATH,
            {"--listen", "127.0.0.1:0", "--upstream", replicas, "--insecure"});
  ASSERT_NE(gateway_, nullptr);

  // Both streams open before the first protocol: a snapshot of the empty
  // election, then every event of the night.
  testing::WatchClient relay_watch(MakeChannel(relay_->address),
                                   testing::FromRevision(0));
  absl::StatusOr<testing::SnapshotRead> relay_snapshot =
      testing::ReadSnapshot(relay_watch);
  ASSERT_TRUE(relay_snapshot.ok()) << relay_snapshot.status();
  const size_t colon = gateway_->address.rfind(':');
  int gateway_port = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(gateway_->address.substr(colon + 1), &gateway_port));
  const std::string gateway_host = gateway_->address.substr(0, colon);
  auto sse = std::make_unique<testing::SseClient>(gateway_host, gateway_port,
                                                  "/v1/watch");
  std::optional<uint64_t> sse_snapshot;
  while (!sse_snapshot.has_value()) {
    absl::StatusOr<testing::SseMessage> message =
        sse->Next(testing::kMessageTimeout);
    ASSERT_TRUE(message.ok()) << message.status();
    if (message->event == "snapshot_complete") {
      uint64_t revision = 0;
      ASSERT_TRUE(message->id.has_value() &&
                  absl::SimpleAtoi(*message->id, &revision))
          << message->data;
      sse_snapshot = revision;
    }
  }

  absl::StatusOr<testing::Process> night = testing::Process::Start(
      TALLYCTL_PATH,
      {"simulate", "--collectors_file", dir_ + "/collectors.txt", "--seed",
       absl::StrCat(kSeed), "--corrections_percent",
       absl::StrCat(kCorrectionsPercent), "--duplicates_percent",
       absl::StrCat(kDuplicatesPercent), "--speed", "0", "--insecure"},
      NextLog("simulate"));
  ASSERT_TRUE(night.ok()) << night.status();

  // Mid-night, with every collector forwarding its outbox to it (the
  // collectors acknowledge the stations at once, so the forwarding is what
  // is under way): the leader dies.
  const absl::Time deadline = absl::Now() + kNightTimeout;
  while (ListStationsReported(*leader) < kKillAtStations) {
    ASSERT_LT(absl::Now(), deadline) << cluster_->log(*leader);
    absl::SleepFor(absl::Milliseconds(10));
  }
  cluster_->Kill(*leader);
  absl::StatusOr<int> next = cluster_->WaitForLeader(absl::Minutes(1), *leader);
  ASSERT_TRUE(next.ok()) << next.status();

  absl::StatusOr<int> exit_code = night->Wait(kNightTimeout);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  ASSERT_EQ(*exit_code, 0) << night->log();
  EXPECT_THAT(night->log(), HasSubstr(" 0 rejected"));
  ASSERT_NO_FATAL_FAILURE(WaitDrained());
  for (const auto& [region, collector] : collectors_) {
    absl::StatusOr<v1::CollectorStatus> status = CollectorStatus(region);
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_TRUE(status->aggregator_connected()) << region;
  }

  // The killed leader comes back as a follower and catches up.
  ASSERT_TRUE(cluster_->StartReplica(*leader).ok()) << cluster_->log(*leader);
  absl::StatusOr<uint64_t> revision = cluster_->WaitConverged(absl::Minutes(2));
  ASSERT_TRUE(revision.ok()) << revision.status();
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(ExpectExactNight(i, *revision));
  }

  ExpectEveryRevisionOnce("the relay", relay_snapshot->revision, *revision,
                          [&]() -> absl::StatusOr<uint64_t> {
                            absl::StatusOr<v1::Event> event =
                                testing::NextEvent(relay_watch);
                            if (!event.ok()) return event.status();
                            return event->revision();
                          });
  // The gateway ends an SSE response whose upstream call broke; like a
  // browser's EventSource, the test reconnects with the last event id, and
  // the stream must go on from exactly there.
  std::string last_id = absl::StrCat(*sse_snapshot);
  int reconnects = 0;
  ExpectEveryRevisionOnce(
      "the gateway", *sse_snapshot, *revision,
      [&]() -> absl::StatusOr<uint64_t> {
        while (true) {
          absl::StatusOr<testing::SseMessage> message =
              sse->Next(testing::kMessageTimeout);
          if (absl::IsOutOfRange(message.status()) && reconnects < 5) {
            ++reconnects;
            sse = std::make_unique<testing::SseClient>(
                gateway_host, gateway_port, "/v1/watch",
                httplib::Headers{{"Last-Event-ID", last_id}});
            continue;
          }
          if (!message.ok()) return message.status();
          if (message->event != "event") continue;  // progress
          uint64_t id = 0;
          if (!message->id.has_value() ||
              !absl::SimpleAtoi(*message->id, &id)) {
            return absl::InternalError("an event without a revision id");
          }
          last_id = *message->id;
          return id;
        }
      });
  // The failover ended the gateway's upstream call at most once or twice.
  EXPECT_LE(reconnects, 2);
  ExpectCleanStop(*relay_);
  ExpectCleanStop(*gateway_);
}

}  // namespace
}  // namespace tally
