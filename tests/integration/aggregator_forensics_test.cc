// Election forensics through the real tally-aggregator: a region whose
// protocols were written as whole percentages is flagged by GetForensics
// and in the live feed, the statistics survive a restart exactly (they are
// rebuilt from the stored protocols), bad requests are refused with a
// reason, and tallyctl forensics draws and prints them.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "clients/simulator/anomalies.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tests/support/feed_client.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using testing::Feeder;
using testing::FromRevision;
using testing::NextEvent;
using testing::ReadSnapshot;
using testing::WatchClient;

const testing::ReferenceElection& Ref() { return testing::Reference(11); }

class ForensicsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Ref().status.ok()) << Ref().status;
    data_dir_ = testing::MakeTempDir("forensics");
  }

  void TearDown() override {
    Stop();
    testing::RemoveTempDirUnlessFailed(data_dir_);
  }

  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--data_dir", data_dir_, "--listen",
                                     "127.0.0.1:0", "--insecure"};
    args.insert(args.end(), extra.begin(), extra.end());
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH, args, data_dir_ + ".log", absl::Minutes(2));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::make_unique<testing::Server>(*std::move(server));
    channel_ = rpc::MakeChannel(server_->address);
    stub_ = v1::Aggregator::NewStub(channel_);
  }

  void Stop() {
    if (server_ == nullptr) return;
    stub_.reset();
    channel_.reset();
    testing::ExpectCleanStop(*server_);
    server_.reset();
  }

  grpc::Status Get(const std::string& contest, const std::string& region,
                   v1::GetForensicsResponse* response) {
    v1::GetForensicsRequest request;
    request.set_contest_id(contest);
    if (!region.empty()) {
      request.mutable_scope()->set_kind(v1::SCOPE_KIND_REGION);
      request.mutable_scope()->set_id(region);
    }
    return stub_->GetForensics(
        testing::DeadlineContext(absl::Seconds(30)).get(), request, response);
  }

  std::string data_dir_;
  std::unique_ptr<testing::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Aggregator::Stub> stub_;
};

bool HasKind(const google::protobuf::RepeatedPtrField<v1::ForensicsFlag>& flags,
             v1::ForensicsFlagKind kind) {
  for (const v1::ForensicsFlag& flag : flags) {
    if (flag.kind() == kind) return true;
  }
  return false;
}

TEST_F(ForensicsTest, RoundNumbersAreFlaggedLiveAndSurviveARestart) {
  const ElectionIndex& index = *Ref().index;
  const std::string list = index.contests().front().contest->id();
  const std::string region = index.definition().regions(0).id();
  // The region's list protocols, rewritten as whole percentages.
  std::vector<v1::StationProtocol> truth = Ref().truth;
  absl::StatusOr<sim::Anomaly> anomaly =
      sim::ParseAnomaly("round_numbers:" + region);
  ASSERT_TRUE(anomaly.ok()) << anomaly.status();
  ASSERT_TRUE(sim::PlantAnomaly(index, *anomaly, 11, &truth).ok());
  std::vector<v1::StationProtocol> sent;
  for (const v1::StationProtocol& protocol : truth) {
    const v1::PollingStation* station =
        index.FindStation(protocol.station_id());
    if (protocol.contest_id() == list && station->region_id() == region) {
      sent.push_back(protocol);
    }
  }
  ASSERT_GE(sent.size(), 50u);

  ASSERT_NO_FATAL_FAILURE(Start());
  {
    v1::GetForensicsResponse empty;
    ASSERT_TRUE(Get(list, region, &empty).ok());
    EXPECT_EQ(empty.forensics().stations(), 0u);
    EXPECT_TRUE(empty.flags().empty());
    EXPECT_TRUE(empty.flagged_scopes().empty());
  }
  WatchClient watch(channel_, FromRevision(0));
  ASSERT_TRUE(ReadSnapshot(watch).ok());
  Feeder feeder(server_->address, &index);
  for (const v1::StationProtocol& protocol : sent) {
    ASSERT_TRUE(feeder.SendOne(protocol).ok());
  }

  // The feed says when the region became flagged, once.
  int became_flagged = 0;
  for (size_t i = 0; i < sent.size(); ++i) {
    absl::StatusOr<v1::Event> event = NextEvent(watch);
    ASSERT_TRUE(event.ok()) << event.status();
    for (const v1::ScopeFlags& flags : event->forensics_flags()) {
      if (flags.scope().kind() == v1::SCOPE_KIND_REGION &&
          flags.scope().id() == region &&
          HasKind(flags.flags(), v1::FORENSICS_FLAG_KIND_INTEGER_TURNOUT)) {
        ++became_flagged;
      }
    }
  }
  EXPECT_GE(became_flagged, 1);

  v1::GetForensicsResponse before;
  ASSERT_TRUE(Get(list, region, &before).ok());
  EXPECT_EQ(before.forensics().stations(), sent.size());
  EXPECT_EQ(before.forensics().integer_turnout().observed(), sent.size());
  EXPECT_TRUE(HasKind(before.flags(), v1::FORENSICS_FLAG_KIND_INTEGER_TURNOUT))
      << before.DebugString();
  EXPECT_TRUE(HasKind(before.flags(), v1::FORENSICS_FLAG_KIND_INTEGER_SHARE));
  EXPECT_FALSE(before.forensics().fingerprint().empty());
  bool listed = false;
  for (const v1::ScopeFlags& flagged : before.flagged_scopes()) {
    listed |= flagged.contest_id() == list && flagged.scope().id() == region;
  }
  EXPECT_TRUE(listed);

  // tallyctl draws it.
  absl::StatusOr<testing::CommandResult> shown = testing::RunCommand(
      TALLYCTL_PATH,
      {"forensics", "--aggregator", server_->address, "--insecure", "--contest",
       list, "--scope", "region/" + region},
      absl::Seconds(60));
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->exit_code, 0) << shown->output;
  EXPECT_THAT(shown->output, ::testing::HasSubstr("whole-percent turnout"));
  EXPECT_THAT(shown->output, ::testing::HasSubstr("never proof"));
  EXPECT_THAT(shown->output, ::testing::HasSubstr("@"));  // the darkest cell

  // Rebuilt exactly from the stored protocols.
  Stop();
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::GetForensicsResponse after;
  ASSERT_TRUE(Get(list, region, &after).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(before, after))
      << before.DebugString() << "\nafter restart\n"
      << after.DebugString();
  WatchClient again(channel_, FromRevision(0));
  absl::StatusOr<v1::WatchResponse> first =
      again.Next(testing::kMessageTimeout);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_snapshot());
  EXPECT_GE(first->snapshot().forensics_flags_size(), 1);
}

TEST_F(ForensicsTest, BadRequestsAreRefusedWithAReason) {
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::GetForensicsResponse response;
  grpc::Status status = Get("no-such-contest", "", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "no-such-contest"))
      << status.error_message();
  status = Get("", "no-such-region", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "no-such-region"))
      << status.error_message();
  // The default: the first contest, national.
  ASSERT_TRUE(Get("", "", &response).ok());
  EXPECT_EQ(response.forensics().contest_id(),
            Ref().index->contests().front().contest->id());
  EXPECT_EQ(response.forensics().scope().kind(), v1::SCOPE_KIND_NATIONAL);
}

TEST_F(ForensicsTest, SwitchedOffTheyAreRefusedWithTheReason) {
  ASSERT_NO_FATAL_FAILURE(Start({"--forensics=false"}));
  Feeder feeder(server_->address, Ref().index.get());
  ASSERT_TRUE(feeder.SendOne(Ref().truth.front()).ok());
  v1::GetForensicsResponse response;
  const grpc::Status status = Get("", "", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "--forensics=false"))
      << status.error_message();
  // Switched on again over the same store: rebuilt from what is stored.
  Stop();
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(Get("", "", &response).ok());
  EXPECT_EQ(response.forensics().stations(), 1u);
}

}  // namespace
}  // namespace tally
