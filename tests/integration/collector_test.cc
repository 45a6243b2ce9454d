// Acceptance tests of tally-collector: the real binary in front of a real
// tally-aggregator on loopback. Submissions are validated against the
// definition and the collector's region, answered once durable in the
// outbox, forwarded, and counted exactly once at the aggregator through an
// aggregator outage and a collector crash.
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/simulator/night_generator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using rpc::MakeChannel;
using testing::DeadlineContext;
using ::testing::HasSubstr;

constexpr char kList[] = "mazhilis-list";
constexpr uint64_t kSeed = 20240601;
constexpr absl::Duration kCallTimeout = absl::Seconds(30);
constexpr absl::Duration kStartTimeout = absl::Minutes(2);
constexpr absl::Duration kDrainTimeout = absl::Minutes(2);

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::ReferenceElection& ref = testing::Reference(kSeed);
    ASSERT_TRUE(ref.status.ok()) << ref.status;
    index_ = ref.index.get();
    ASSERT_GE(index_->definition().regions_size(), 2);
    region_ = index_->definition().regions(0).id();
    other_region_ = index_->definition().regions(1).id();
    for (const v1::StationProtocol& protocol : ref.truth) {
      if (protocol.contest_id() != kList) continue;
      const v1::PollingStation* station =
          index_->FindStation(protocol.station_id());
      ASSERT_NE(station, nullptr);
      if (station->region_id() == region_) {
        mine_.push_back(protocol);
      } else if (station->region_id() == other_region_ && foreign_.empty()) {
        foreign_.push_back(protocol);
      }
    }
    ASSERT_GE(mine_.size(), 300u);
    ASSERT_FALSE(foreign_.empty());
    dir_ = testing::MakeTempDir("collector");
    ASSERT_NO_FATAL_FAILURE(StartAggregator("127.0.0.1:0"));
    ASSERT_NO_FATAL_FAILURE(StartCollector());
  }

  void TearDown() override { testing::RemoveTempDirUnlessFailed(dir_); }

  void StartAggregator(const std::string& listen) {
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH,
        {"--data_dir", dir_ + "/aggregator", "--listen", listen, "--insecure"},
        absl::StrCat(dir_, ".aggregator.", ++starts_, ".log"), kStartTimeout);
    ASSERT_TRUE(server.ok()) << server.status();
    aggregator_ = std::make_unique<testing::Server>(*std::move(server));
    aggregator_stub_ =
        v1::Aggregator::NewStub(MakeChannel(aggregator_->address));
  }

  void StartCollector() {
    absl::StatusOr<testing::Server> server = testing::StartServer(
        COLLECTOR_PATH,
        {"--region", region_, "--data_dir", dir_ + "/collector", "--listen",
         "127.0.0.1:0", "--aggregator", aggregator_->address, "--insecure"},
        absl::StrCat(dir_, ".collector.", ++starts_, ".log"), kStartTimeout);
    ASSERT_TRUE(server.ok()) << server.status();
    collector_ = std::make_unique<testing::Server>(*std::move(server));
    collector_stub_ = v1::Collector::NewStub(MakeChannel(collector_->address));
  }

  grpc::Status Submit(const v1::StationProtocol& protocol,
                      v1::SubmitResponse* response) {
    v1::SubmitRequest request;
    *request.mutable_protocol() = protocol;
    return collector_stub_->Submit(DeadlineContext(kCallTimeout).get(), request,
                                   response);
  }

  // Submits on one stream; the response has one result per protocol.
  v1::SubmitStreamResponse SubmitStream(
      const std::vector<v1::StationProtocol>& protocols) {
    v1::SubmitStreamResponse response;
    std::unique_ptr<grpc::ClientContext> context =
        DeadlineContext(kCallTimeout);
    auto writer = collector_stub_->SubmitStream(context.get(), &response);
    for (const v1::StationProtocol& protocol : protocols) {
      v1::SubmitRequest request;
      *request.mutable_protocol() = protocol;
      if (!writer->Write(request)) break;
    }
    writer->WritesDone();
    const grpc::Status status = writer->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  absl::StatusOr<v1::CollectorStatus> Status() {
    v1::CollectorStatus status;
    const grpc::Status rpc = collector_stub_->GetCollectorStatus(
        DeadlineContext(kCallTimeout).get(), v1::GetCollectorStatusRequest(),
        &status);
    if (!rpc.ok()) return absl::UnavailableError(rpc.error_message());
    return status;
  }

  // Waits until the aggregator acknowledged every entry up to `last_seq`.
  void WaitDrained(uint64_t last_seq) {
    const absl::Time deadline = absl::Now() + kDrainTimeout;
    v1::CollectorStatus status;
    while (absl::Now() < deadline) {
      absl::StatusOr<v1::CollectorStatus> got = Status();
      if (got.ok()) {
        status = *got;
        if (status.outbox_depth() == 0 && status.last_acked_seq() >= last_seq)
          return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "outbox not drained: " << status.DebugString()
           << "\ncollector log:\n"
           << collector_->process.log();
  }

  v1::Totals RegionTotals() {
    v1::GetResultsRequest request;
    request.set_contest_id(kList);
    request.mutable_scope()->set_kind(v1::SCOPE_KIND_REGION);
    request.mutable_scope()->set_id(region_);
    v1::GetResultsResponse response;
    const grpc::Status status = aggregator_stub_->GetResults(
        DeadlineContext(kCallTimeout).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (response.results_size() != 1) {
      ADD_FAILURE() << "expected one result: " << response.DebugString();
      return {};
    }
    return response.results(0).totals();
  }

  // Compares the aggregator's region totals with an independent sum.
  void ExpectTotalsEqual(const std::vector<v1::StationProtocol>& counted) {
    v1::Scope scope;
    scope.set_kind(v1::SCOPE_KIND_REGION);
    scope.set_id(region_);
    const v1::Totals expected = sim::SumTruth(*index_, counted, kList, scope);
    const v1::Totals actual = RegionTotals();
    EXPECT_EQ(actual.stations_reported(), counted.size());
    EXPECT_EQ(actual.stations_reported(), expected.stations_reported());
    EXPECT_EQ(actual.ballots_cast(), expected.ballots_cast());
    EXPECT_EQ(actual.ballots_issued(), expected.ballots_issued());
    EXPECT_EQ(actual.invalid(), expected.invalid());
    EXPECT_EQ(actual.against_all(), expected.against_all());
    ASSERT_EQ(actual.choices_size(), expected.choices_size());
    for (int i = 0; i < actual.choices_size(); ++i) {
      EXPECT_EQ(actual.choices(i).choice_id(), expected.choices(i).choice_id());
      EXPECT_EQ(actual.choices(i).votes(), expected.choices(i).votes())
          << actual.choices(i).choice_id();
    }
  }

  v1::GetStationResponse Station(uint32_t station_id) {
    v1::GetStationRequest request;
    request.set_station_id(station_id);
    request.set_contest_id(kList);
    v1::GetStationResponse response;
    const grpc::Status status = aggregator_stub_->GetStation(
        DeadlineContext(kCallTimeout).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::vector<v1::StationProtocol> Mine(size_t from, size_t to) const {
    return {mine_.begin() + from, mine_.begin() + to};
  }

  const ElectionIndex* index_ = nullptr;
  std::string region_;
  std::string other_region_;
  std::vector<v1::StationProtocol> mine_;
  std::vector<v1::StationProtocol> foreign_;
  std::string dir_;
  int starts_ = 0;
  std::unique_ptr<testing::Server> aggregator_;
  std::unique_ptr<testing::Server> collector_;
  std::unique_ptr<v1::Aggregator::Stub> aggregator_stub_;
  std::unique_ptr<v1::Collector::Stub> collector_stub_;
};

TEST_F(CollectorTest, SubmissionsAreAcknowledgedAndReachTheAggregator) {
  const std::vector<v1::StationProtocol> batch = Mine(0, 40);
  for (size_t i = 0; i < batch.size(); ++i) {
    v1::SubmitResponse response;
    const grpc::Status status = Submit(batch[i], &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.result().outcome(), v1::OUTCOME_ACCEPTED);
    EXPECT_EQ(response.result().sequence(), i + 1);
    EXPECT_EQ(response.result().station_id(), batch[i].station_id());
  }
  ASSERT_NO_FATAL_FAILURE(WaitDrained(batch.size()));
  absl::StatusOr<v1::CollectorStatus> status = Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->collector_id(), "collector-" + region_);
  EXPECT_EQ(status->region_id(), region_);
  EXPECT_EQ(status->last_seq(), batch.size());
  EXPECT_EQ(status->last_acked_seq(), batch.size());
  EXPECT_TRUE(status->aggregator_connected());
  EXPECT_GT(status->submit_rate(), 0.0);
  EXPECT_TRUE(status->last_error().empty()) << status->last_error();

  const v1::GetStationResponse station = Station(batch[7].station_id());
  ASSERT_EQ(station.contests_size(), 1);
  EXPECT_EQ(station.contests(0).current_version(), 1u);
  ASSERT_EQ(station.contests(0).versions_size(), 1);
  const v1::ProtocolVersion& version = station.contests(0).versions(0);
  EXPECT_EQ(version.collector_id(), "collector-" + region_);
  EXPECT_EQ(version.collector_seq(), 8u);
  EXPECT_EQ(version.protocol().submitted_by(), "station-client");
  EXPECT_EQ(version.protocol().digest().size(), 32u);
  ExpectTotalsEqual(batch);
}

TEST_F(CollectorTest, RefusesStationsOfOtherRegionsAndBadProtocols) {
  v1::SubmitResponse response;
  grpc::Status status = Submit(foreign_[0], &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr(region_));

  v1::StationProtocol unknown = mine_[0];
  unknown.set_station_id(999999999);
  status = Submit(unknown, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  v1::StationProtocol no_version = mine_[0];
  no_version.set_version(0);
  status = Submit(no_version, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("version"));

  v1::SubmitRequest empty;
  status = collector_stub_->Submit(DeadlineContext(kCallTimeout).get(), empty,
                                   &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Nothing refused reached the outbox.
  absl::StatusOr<v1::CollectorStatus> collector = Status();
  ASSERT_TRUE(collector.ok()) << collector.status();
  EXPECT_EQ(collector->last_seq(), 0u);
}

// A 100 KB field comes back with its own code and a message of a few
// hundred bytes: the collector quotes at most about a hundred bytes of it
// (echoed whole, the status would exceed gRPC's metadata limit and the
// client would see RESOURCE_EXHAUSTED instead).
TEST_F(CollectorTest, HugeFieldsAreRefusedWithShortMessages) {
  constexpr size_t kShortMessage = 300;
  const std::string huge(100 * 1024, 'x');
  v1::StationProtocol contest = mine_[0];
  contest.set_contest_id(huge);
  v1::StationProtocol choice = mine_[0];
  v1::ChoiceVotes* line = choice.add_votes();
  line->set_choice_id(huge);
  line->set_votes(1);
  v1::StationProtocol digest = mine_[0];
  digest.set_digest(huge);
  const std::vector<std::pair<v1::StationProtocol, grpc::StatusCode>> cases = {
      {contest, grpc::StatusCode::NOT_FOUND},
      {choice, grpc::StatusCode::INVALID_ARGUMENT},
      {digest, grpc::StatusCode::INVALID_ARGUMENT},
  };
  for (const auto& [bad, code] : cases) {
    v1::SubmitResponse response;
    const grpc::Status status = Submit(bad, &response);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_LT(status.error_message().size(), kShortMessage)
        << status.error_message().substr(0, 1000);
  }
  // In a stream, each verdict carries its own short message.
  const v1::SubmitStreamResponse stream =
      SubmitStream({contest, choice, digest});
  ASSERT_EQ(stream.results_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(stream.results(i).status_code(),
              static_cast<int32_t>(cases[i].second));
    EXPECT_LT(stream.results(i).message().size(), kShortMessage);
  }
  absl::StatusOr<v1::CollectorStatus> collector = Status();
  ASSERT_TRUE(collector.ok()) << collector.status();
  EXPECT_EQ(collector->last_seq(), 0u);
}

TEST_F(CollectorTest, AnswersDuplicateStaleAndConflictLocally) {
  v1::StationProtocol v2 = mine_[0];
  v2.set_version(2);
  v1::SubmitResponse response;
  ASSERT_TRUE(Submit(v2, &response).ok());
  EXPECT_EQ(response.result().outcome(), v1::OUTCOME_ACCEPTED);

  grpc::Status status = Submit(v2, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result().outcome(), v1::OUTCOME_DUPLICATE);

  status = Submit(mine_[0], &response);  // version 1
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result().outcome(), v1::OUTCOME_STALE);

  // Same version, one vote moved between two choices: still valid, but
  // different content.
  v1::StationProtocol conflicting = v2;
  int from = -1;
  for (int i = 0; i < conflicting.votes_size(); ++i) {
    if (conflicting.votes(i).votes() > 0) from = i;
  }
  ASSERT_GE(from, 0);
  ASSERT_GE(conflicting.votes_size(), 2);
  const int to = from == 0 ? 1 : 0;
  conflicting.mutable_votes(from)->set_votes(conflicting.votes(from).votes() -
                                             1);
  conflicting.mutable_votes(to)->set_votes(conflicting.votes(to).votes() + 1);
  status = Submit(conflicting, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(status.error_message(), HasSubstr("different content"));

  absl::StatusOr<v1::CollectorStatus> collector = Status();
  ASSERT_TRUE(collector.ok()) << collector.status();
  EXPECT_EQ(collector->last_seq(), 1u);
  ASSERT_NO_FATAL_FAILURE(WaitDrained(1));
  const v1::GetStationResponse station = Station(v2.station_id());
  ASSERT_EQ(station.contests_size(), 1);
  EXPECT_EQ(station.contests(0).current_version(), 2u);
  EXPECT_EQ(station.contests(0).versions_size(), 1);
}

TEST_F(CollectorTest, SubmitStreamLosesNothingAroundABadProtocol) {
  std::vector<v1::StationProtocol> protocols = Mine(0, 20);
  v1::StationProtocol malformed = mine_[20];
  malformed.set_contest_id("no-such-contest");
  protocols.insert(protocols.begin() + 10, foreign_[0]);
  protocols.insert(protocols.begin() + 15, malformed);
  protocols.push_back(protocols[3]);  // a duplicate within the stream

  const v1::SubmitStreamResponse response = SubmitStream(protocols);
  ASSERT_EQ(response.results_size(), static_cast<int>(protocols.size()));
  EXPECT_EQ(response.accepted(), 20u);
  EXPECT_EQ(response.duplicate(), 1u);
  EXPECT_EQ(response.stale(), 0u);
  EXPECT_EQ(response.rejected(), 2u);
  for (int i = 0; i < response.results_size(); ++i) {
    EXPECT_EQ(response.results(i).station_id(), protocols[i].station_id()) << i;
  }
  EXPECT_EQ(response.results(10).outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(response.results(10).status_code(),
            static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(response.results(15).outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(response.results(15).status_code(),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(response.results(22).outcome(), v1::OUTCOME_DUPLICATE);
  std::set<uint64_t> sequences;
  for (const v1::ProtocolResult& result : response.results()) {
    if (result.outcome() == v1::OUTCOME_ACCEPTED) {
      sequences.insert(result.sequence());
    }
  }
  EXPECT_EQ(sequences.size(), 20u);
  EXPECT_EQ(*sequences.begin(), 1u);
  EXPECT_EQ(*sequences.rbegin(), 20u);

  ASSERT_NO_FATAL_FAILURE(WaitDrained(20));
  ExpectTotalsEqual(Mine(0, 20));
}

TEST_F(CollectorTest, OutboxGrowsDuringAnAggregatorOutageAndDrainsAfter) {
  v1::SubmitStreamResponse response = SubmitStream(Mine(0, 100));
  ASSERT_EQ(response.accepted(), 100u);
  ASSERT_NO_FATAL_FAILURE(WaitDrained(100));

  const std::string address = aggregator_->address;
  aggregator_->process.Signal(SIGKILL);
  ASSERT_TRUE(aggregator_->process.Wait(kStartTimeout).ok());

  // Station clients are still answered, from the outbox.
  for (size_t from = 100; from < 300; from += 50) {
    response = SubmitStream(Mine(from, from + 50));
    ASSERT_EQ(response.accepted(), 50u);
  }
  absl::StatusOr<v1::CollectorStatus> status = Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->last_seq(), 300u);
  EXPECT_EQ(status->last_acked_seq(), 100u);
  EXPECT_EQ(status->outbox_depth(), 200u);
  // The forwarder notices the outage.
  const absl::Time deadline = absl::Now() + kDrainTimeout;
  while (absl::Now() < deadline) {
    status = Status();
    ASSERT_TRUE(status.ok()) << status.status();
    if (!status->aggregator_connected() && !status->last_error().empty()) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_FALSE(status->aggregator_connected());
  EXPECT_FALSE(status->last_error().empty());

  ASSERT_NO_FATAL_FAILURE(StartAggregator(address));
  ASSERT_NO_FATAL_FAILURE(WaitDrained(300));
  ExpectTotalsEqual(Mine(0, 300));
}

TEST_F(CollectorTest, CollectorCrashLosesNothingAcknowledged) {
  const std::vector<v1::StationProtocol> all = Mine(0, 300);
  std::atomic<size_t> acknowledged{0};
  absl::Mutex mu;
  std::set<size_t> acked_indexes;
  // The client submits one protocol at a time until the collector dies.
  std::thread client([&] {
    for (size_t i = 0; i < all.size(); ++i) {
      v1::SubmitResponse response;
      if (!Submit(all[i], &response).ok()) return;
      EXPECT_EQ(response.result().outcome(), v1::OUTCOME_ACCEPTED) << i;
      absl::MutexLock lock(&mu);
      acked_indexes.insert(i);
      acknowledged.fetch_add(1);
    }
  });
  const absl::Time deadline = absl::Now() + kDrainTimeout;
  while (acknowledged.load() < 120 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  collector_->process.Signal(SIGKILL);
  client.join();
  ASSERT_TRUE(collector_->process.Wait(kStartTimeout).ok());
  const size_t acked_before = acknowledged.load();
  ASSERT_GE(acked_before, 120u);
  ASSERT_LT(acked_before, all.size()) << "the kill came after every submit";

  ASSERT_NO_FATAL_FAILURE(StartCollector());
  absl::StatusOr<v1::CollectorStatus> status = Status();
  ASSERT_TRUE(status.ok()) << status.status();
  // Everything acknowledged survived; at most the in-flight one more.
  EXPECT_GE(status->last_seq(), acked_before);
  EXPECT_LE(status->last_seq(), acked_before + 1);

  std::vector<v1::StationProtocol> rest;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!acked_indexes.contains(i)) rest.push_back(all[i]);
  }
  const v1::SubmitStreamResponse response = SubmitStream(rest);
  EXPECT_EQ(response.rejected(), 0u);
  EXPECT_EQ(response.stale(), 0u);
  EXPECT_EQ(response.accepted() + response.duplicate(), rest.size());
  EXPECT_LE(response.duplicate(), 1u);
  ASSERT_NO_FATAL_FAILURE(WaitDrained(all.size()));
  ExpectTotalsEqual(all);
  const v1::GetStationResponse station = Station(all[0].station_id());
  ASSERT_EQ(station.contests_size(), 1);
  EXPECT_EQ(station.contests(0).versions_size(), 1);

  v1::VerifyResponse verify;
  const grpc::Status verified = aggregator_stub_->Verify(
      DeadlineContext(kCallTimeout).get(), v1::VerifyRequest(), &verify);
  ASSERT_TRUE(verified.ok()) << verified.error_message();
  EXPECT_TRUE(verify.differences().empty());
  EXPECT_EQ(verify.protocols_counted(), all.size());
}

TEST_F(CollectorTest, SigtermStopsCleanlyAndKeepsTheOutbox) {
  const std::string address = aggregator_->address;
  aggregator_->process.Signal(SIGKILL);
  ASSERT_TRUE(aggregator_->process.Wait(kStartTimeout).ok());
  const v1::SubmitStreamResponse response = SubmitStream(Mine(0, 30));
  ASSERT_EQ(response.accepted(), 30u);

  collector_->process.Signal(SIGTERM);
  absl::StatusOr<int> exit_code = collector_->process.Wait(kStartTimeout);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0) << collector_->process.log();

  ASSERT_NO_FATAL_FAILURE(StartAggregator(address));
  ASSERT_NO_FATAL_FAILURE(StartCollector());
  absl::StatusOr<v1::CollectorStatus> status = Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->last_seq(), 30u);
  ASSERT_NO_FATAL_FAILURE(WaitDrained(30));
  ExpectTotalsEqual(Mine(0, 30));
}

}  // namespace
}  // namespace tally
