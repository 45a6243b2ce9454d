// Every bad-input rule of the aggregator, on the real binary over loopback:
// the status code and message a collector gets, and that one bad protocol
// never costs the good ones travelling in the same batch.
#include <signal.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/rpc/channel.h"
#include "services/rpc/status.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using testing::IngestSession;

constexpr char kList[] = "mazhilis-list";
// Astana has two districts (d01, d02): a station of one does not vote in
// the other's contest, without leaving the region.
constexpr char kRegion[] = "astana";
constexpr char kOtherRegion[] = "almaty";
constexpr char kCollector[] = "collector-astana";
constexpr absl::Duration kCallTimeout = absl::Seconds(30);

int Code(absl::StatusCode code) { return static_cast<int>(code); }

// The reference election with a plausible true protocol for every
// (contest, station).
const testing::ReferenceElection& Ref() { return testing::Reference(7); }

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Ref().status.ok()) << Ref().status;
    // Stations of the region in definition order, and the district
    // contests of the region's two districts.
    for (const v1::PollingStation& station :
         Ref().index->definition().stations()) {
      if (station.region_id() == kRegion) region_stations_.push_back(&station);
      if (station.region_id() == kOtherRegion && foreign_ == nullptr) {
        foreign_ = &station;
      }
    }
    ASSERT_GE(region_stations_.size(), 10u);
    ASSERT_NE(foreign_, nullptr);
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    // An open connection would hold the graceful stop for its whole grace
    // period.
    stub_.reset();
    testing::ExpectCleanStop(*server_);
    testing::RemoveTempDirUnlessFailed(data_dir_);
  }

  void StartAggregator(std::vector<std::string> extra = {}) {
    data_dir_ = testing::MakeTempDir("bad-input");
    std::vector<std::string> args = {"--data_dir", data_dir_, "--listen",
                                     "127.0.0.1:0", "--insecure"};
    args.insert(args.end(), extra.begin(), extra.end());
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH, args, data_dir_ + ".log", absl::Minutes(2));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::make_unique<testing::Server>(*std::move(server));
    stub_ = v1::Aggregator::NewStub(rpc::MakeChannel(address()));
  }

  const std::string& address() const { return server_->address; }

  // The true version-1 protocol of a contest at a station.
  static v1::StationProtocol Truth(const std::string& contest,
                                   uint32_t station) {
    auto it = Ref().by_key.find({contest, station});
    EXPECT_NE(it, Ref().by_key.end()) << contest << "/" << station;
    if (it == Ref().by_key.end()) return v1::StationProtocol();
    return Ref().truth[it->second];
  }

  // The list protocol of the n-th station of the region.
  v1::StationProtocol ListProtocol(size_t n) const {
    return Truth(kList, region_stations_.at(n)->id());
  }

  // The district contest a station votes in.
  static std::string ContestOfDistrict(const std::string& district) {
    for (const v1::Contest& contest : Ref().index->definition().contests()) {
      if (contest.district_id() == district) return contest.id();
    }
    ADD_FAILURE() << "no contest for district " << district;
    return "";
  }

  absl::StatusOr<std::unique_ptr<IngestSession>> Open() {
    return IngestSession::Open(address(), kCollector, kRegion,
                               absl::Minutes(1));
  }

  // Sends [good, bad, good] (the good ones are list protocols of stations
  // 0 and 1 of the region) with sequences seq..seq+2 on a new session and
  // checks that the good ones were accepted. Returns the bad one's result.
  v1::ProtocolResult SendBetweenGoodOnes(const v1::StationProtocol& bad) {
    absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
    EXPECT_TRUE(session.ok()) << session.status();
    if (!session.ok()) return v1::ProtocolResult();
    const uint64_t first = (*session)->welcome().last_applied_seq() + 1;
    const std::vector<v1::StationProtocol> batch = {ListProtocol(0), bad,
                                                    ListProtocol(1)};
    absl::StatusOr<v1::IngestAck> ack =
        (*session)->Send(testing::Entries(batch, first));
    EXPECT_TRUE(ack.ok()) << ack.status();
    if (!ack.ok()) return v1::ProtocolResult();
    EXPECT_EQ(ack->durable_seq(), first + 2);
    EXPECT_EQ(ack->results_size(), 3);
    if (ack->results_size() != 3) return v1::ProtocolResult();
    for (int i : {0, 2}) {
      const v1::ProtocolResult& good = ack->results(i);
      EXPECT_EQ(good.outcome(), v1::OUTCOME_ACCEPTED)
          << good.ShortDebugString();
      EXPECT_EQ(good.status_code(), 0);
      EXPECT_EQ(good.sequence(), first + static_cast<uint64_t>(i));
    }
    const v1::ProtocolResult& result = ack->results(1);
    EXPECT_EQ(result.sequence(), first + 1);
    EXPECT_EQ(result.contest_id(), bad.contest_id());
    EXPECT_EQ(result.station_id(), bad.station_id());
    EXPECT_EQ(result.version(), bad.version());
    EXPECT_TRUE((*session)->Close().ok());
    // Both good neighbours are counted and on record.
    ExpectCounted(ListProtocol(0), first);
    ExpectCounted(ListProtocol(1), first + 2);
    return result;
  }

  absl::StatusOr<v1::GetStationResponse> Station(uint32_t station_id,
                                                 const std::string& contest) {
    v1::GetStationRequest request;
    request.set_station_id(station_id);
    request.set_contest_id(contest);
    v1::GetStationResponse response;
    grpc::Status status = stub_->GetStation(
        testing::DeadlineContext(kCallTimeout).get(), request, &response);
    if (!status.ok()) return rpc::FromGrpc(status);
    return response;
  }

  // `protocol` is the counted version of its station, stored once, from
  // this collector at `seq`.
  void ExpectCounted(const v1::StationProtocol& protocol, uint64_t seq) {
    absl::StatusOr<v1::GetStationResponse> station =
        Station(protocol.station_id(), protocol.contest_id());
    ASSERT_TRUE(station.ok()) << station.status();
    ASSERT_EQ(station->contests_size(), 1);
    const v1::StationContestHistory& history = station->contests(0);
    EXPECT_EQ(history.current_version(), protocol.version());
    int found = 0;
    for (const v1::ProtocolVersion& version : history.versions()) {
      if (version.protocol().version() != protocol.version()) continue;
      ++found;
      v1::StationProtocol stored = version.protocol();
      stored.clear_digest();
      EXPECT_TRUE(MessageDifferencer::Equals(stored, protocol))
          << stored.ShortDebugString();
      EXPECT_EQ(version.collector_id(), kCollector);
      EXPECT_EQ(version.collector_seq(), seq);
    }
    EXPECT_EQ(found, 1) << protocol.contest_id() << "/"
                        << protocol.station_id();
  }

  // Nothing is counted or stored for the contest at the station.
  void ExpectNothingStored(uint32_t station_id, const std::string& contest) {
    absl::StatusOr<v1::GetStationResponse> station =
        Station(station_id, contest);
    ASSERT_TRUE(station.ok()) << station.status();
    ASSERT_EQ(station->contests_size(), 1);
    EXPECT_EQ(station->contests(0).current_version(), 0u);
    EXPECT_EQ(station->contests(0).versions_size(), 0);
  }

  std::vector<const v1::PollingStation*> region_stations_;
  const v1::PollingStation* foreign_ = nullptr;
  std::string data_dir_;
  std::unique_ptr<testing::Server> server_;
  std::unique_ptr<v1::Aggregator::Stub> stub_;
};

bool HasFinding(const v1::ProtocolResult& result, const std::string& rule) {
  for (const v1::Finding& finding : result.findings()) {
    if (finding.rule() == rule) return true;
  }
  return false;
}

TEST_F(BadInputTest, UnknownStationIsNotFound) {
  StartAggregator();
  v1::StationProtocol bad = ListProtocol(2);
  bad.set_station_id(999999);
  const v1::ProtocolResult result = SendBetweenGoodOnes(bad);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(result.status_code(), Code(absl::StatusCode::kNotFound));
  EXPECT_THAT(result.message(), HasSubstr("station_id"));
  EXPECT_THAT(result.message(), HasSubstr("station 999999"));
  EXPECT_THAT(result.message(), HasSubstr("unknown_station"));
}

TEST_F(BadInputTest, UnknownContestIsNotFound) {
  StartAggregator();
  v1::StationProtocol bad = ListProtocol(2);
  bad.set_contest_id("no-such-contest");
  const v1::ProtocolResult result = SendBetweenGoodOnes(bad);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(result.status_code(), Code(absl::StatusCode::kNotFound));
  EXPECT_THAT(result.message(), HasSubstr("contest_id"));
  EXPECT_THAT(result.message(), HasSubstr("\"no-such-contest\""));
  EXPECT_THAT(result.message(), HasSubstr("unknown_contest"));
}

TEST_F(BadInputTest, StationOfAnotherRegionIsPermissionDenied) {
  StartAggregator();
  const v1::StationProtocol bad = Truth(kList, foreign_->id());
  const v1::ProtocolResult result = SendBetweenGoodOnes(bad);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(result.status_code(), Code(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(result.message(), HasSubstr(absl::StrCat(foreign_->id())));
  EXPECT_THAT(result.message(), HasSubstr("\"almaty\""));
  EXPECT_THAT(result.message(), HasSubstr("\"astana\""));
  EXPECT_THAT(result.message(), HasSubstr("station_outside_region"));
  ExpectNothingStored(foreign_->id(), kList);
}

TEST_F(BadInputTest, StationOutsideTheDistrictContestIsInvalid) {
  StartAggregator();
  // A station of the region whose district differs from the first one's.
  const v1::PollingStation* first = region_stations_.front();
  const v1::PollingStation* other = nullptr;
  for (const v1::PollingStation* station : region_stations_) {
    if (station->district_id() != first->district_id()) {
      other = station;
      break;
    }
  }
  ASSERT_NE(other, nullptr);
  const std::string first_contest = ContestOfDistrict(first->district_id());
  // The other district's station reports the first district's contest,
  // with its own (valid) numbers.
  v1::StationProtocol bad =
      Truth(ContestOfDistrict(other->district_id()), other->id());
  bad.set_contest_id(first_contest);
  const v1::ProtocolResult result = SendBetweenGoodOnes(bad);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(result.status_code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(result.message(), HasSubstr("station_not_in_contest"));
  EXPECT_THAT(result.message(), HasSubstr(first_contest));
  EXPECT_THAT(result.message(), HasSubstr(other->district_id()));
}

TEST_F(BadInputTest, UnknownChoiceIsInvalid) {
  StartAggregator();
  v1::StationProtocol bad = ListProtocol(2);
  v1::ChoiceVotes* line = bad.add_votes();
  line->set_choice_id("nobody");
  line->set_votes(0);
  const v1::ProtocolResult result = SendBetweenGoodOnes(bad);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(result.status_code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(result.message(), HasSubstr("votes[choice_id=nobody]"));
  EXPECT_THAT(result.message(), HasSubstr("unknown_choice"));
  EXPECT_TRUE(HasFinding(result, "unknown_choice"));
  ExpectNothingStored(bad.station_id(), kList);
}

TEST_F(BadInputTest, VotesThatDoNotAddUpAreInvalid) {
  StartAggregator();
  v1::StationProtocol bad = ListProtocol(2);
  ASSERT_GT(bad.votes_size(), 0);
  bad.mutable_votes(0)->set_votes(bad.votes(0).votes() + 1);
  const v1::ProtocolResult result = SendBetweenGoodOnes(bad);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(result.status_code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(result.message(), HasSubstr("votes_sum"));
  EXPECT_THAT(result.message(), HasSubstr("accounting.ballots_found"));
  EXPECT_THAT(result.message(),
              HasSubstr(absl::StrCat("ballots_found is ",
                                     bad.accounting().ballots_found())));
  EXPECT_TRUE(HasFinding(result, "votes_sum"));
  ExpectNothingStored(bad.station_id(), kList);
}

TEST_F(BadInputTest, VersionZeroIsInvalid) {
  StartAggregator();
  v1::StationProtocol bad = ListProtocol(2);
  bad.set_version(0);
  const v1::ProtocolResult result = SendBetweenGoodOnes(bad);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(result.status_code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(result.message(), HasSubstr("version"));
  EXPECT_THAT(result.message(), HasSubstr("version_required"));
  ExpectNothingStored(bad.station_id(), kList);
}

TEST_F(BadInputTest, ConflictingContentForACountedVersionIsAborted) {
  StartAggregator();
  const v1::StationProtocol original = ListProtocol(2);
  {
    absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
    ASSERT_TRUE(session.ok()) << session.status();
    absl::StatusOr<v1::IngestAck> ack =
        (*session)->Send(testing::Entries({original}, 1));
    ASSERT_TRUE(ack.ok()) << ack.status();
    ASSERT_EQ(ack->results(0).outcome(), v1::OUTCOME_ACCEPTED);
    EXPECT_TRUE((*session)->Close().ok());
  }
  // Same version, one vote moved from the first choice to the second:
  // still a valid protocol, but not the one counted.
  v1::StationProtocol conflicting = original;
  ASSERT_GE(conflicting.votes_size(), 2);
  ASSERT_GT(conflicting.votes(0).votes(), 0u);
  conflicting.mutable_votes(0)->set_votes(conflicting.votes(0).votes() - 1);
  conflicting.mutable_votes(1)->set_votes(conflicting.votes(1).votes() + 1);
  const v1::ProtocolResult result = SendBetweenGoodOnes(conflicting);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
  EXPECT_EQ(result.status_code(), Code(absl::StatusCode::kAborted));
  EXPECT_THAT(result.message(), HasSubstr("different content"));
  EXPECT_THAT(result.message(),
              HasSubstr(absl::StrCat("station ", original.station_id())));
  // The original stays counted, alone in the history.
  ExpectCounted(original, 1);
  absl::StatusOr<v1::GetStationResponse> station =
      Station(original.station_id(), kList);
  ASSERT_TRUE(station.ok()) << station.status();
  EXPECT_EQ(station->contests(0).versions_size(), 1);
}

TEST_F(BadInputTest, LowerVersionIsStale) {
  StartAggregator();
  v1::StationProtocol second = ListProtocol(2);
  second.set_version(2);
  {
    absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
    ASSERT_TRUE(session.ok()) << session.status();
    absl::StatusOr<v1::IngestAck> ack =
        (*session)->Send(testing::Entries({second}, 1));
    ASSERT_TRUE(ack.ok()) << ack.status();
    ASSERT_EQ(ack->results(0).outcome(), v1::OUTCOME_ACCEPTED);
    EXPECT_TRUE((*session)->Close().ok());
  }
  const v1::ProtocolResult result = SendBetweenGoodOnes(ListProtocol(2));
  EXPECT_EQ(result.outcome(), v1::OUTCOME_STALE);
  EXPECT_EQ(result.status_code(), 0);
  EXPECT_THAT(result.message(), HasSubstr("older than the counted version 2"));
  ExpectCounted(second, 1);
}

TEST_F(BadInputTest, ExactRepeatIsDuplicate) {
  StartAggregator();
  const v1::StationProtocol original = ListProtocol(2);
  {
    absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
    ASSERT_TRUE(session.ok()) << session.status();
    absl::StatusOr<v1::IngestAck> ack =
        (*session)->Send(testing::Entries({original}, 1));
    ASSERT_TRUE(ack.ok()) << ack.status();
    ASSERT_EQ(ack->results(0).outcome(), v1::OUTCOME_ACCEPTED);
    EXPECT_TRUE((*session)->Close().ok());
  }
  // A new sequence number: the content, not the sequence, makes it a
  // duplicate.
  const v1::ProtocolResult result = SendBetweenGoodOnes(original);
  EXPECT_EQ(result.outcome(), v1::OUTCOME_DUPLICATE);
  EXPECT_EQ(result.status_code(), 0);
  EXPECT_THAT(result.message(), HasSubstr("already counted"));
  ExpectCounted(original, 1);
}

TEST_F(BadInputTest, ResentSequencesAfterReconnectAreDuplicates) {
  StartAggregator();
  const std::vector<v1::StationProtocol> first_three = {
      ListProtocol(2), ListProtocol(3), ListProtocol(4)};
  {
    absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ((*session)->welcome().last_applied_seq(), 0u);
    absl::StatusOr<v1::IngestAck> ack =
        (*session)->Send(testing::Entries(first_three, 1));
    ASSERT_TRUE(ack.ok()) << ack.status();
    EXPECT_EQ(ack->durable_seq(), 3u);
    EXPECT_TRUE((*session)->Close().ok());
  }
  absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ((*session)->welcome().last_applied_seq(), 3u);
  // The collector did not see the ack: it resends 1..3, then a new one.
  std::vector<v1::StationProtocol> resend = first_three;
  resend.push_back(ListProtocol(5));
  absl::StatusOr<v1::IngestAck> ack =
      (*session)->Send(testing::Entries(resend, 1));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->durable_seq(), 4u);
  ASSERT_EQ(ack->results_size(), 4);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ack->results(i).outcome(), v1::OUTCOME_DUPLICATE);
    EXPECT_EQ(ack->results(i).status_code(), 0);
    EXPECT_THAT(ack->results(i).message(), HasSubstr("already applied"));
    EXPECT_THAT(ack->results(i).message(),
                HasSubstr(absl::StrCat("sequence ", i + 1)));
  }
  EXPECT_EQ(ack->results(3).outcome(), v1::OUTCOME_ACCEPTED);
  EXPECT_TRUE((*session)->Close().ok());
  // Counted once each, with the sequence they first arrived with.
  for (int i = 0; i < 3; ++i) ExpectCounted(first_three[i], i + 1);
  ExpectCounted(ListProtocol(5), 4);
}

TEST_F(BadInputTest, FirstMessageMustBeAHello) {
  StartAggregator();
  v1::IngestRequest batch;
  *batch.mutable_batch()->add_entries() =
      testing::Entries({ListProtocol(0)}, 1)[0];
  std::vector<v1::IngestResponse> responses;
  const grpc::Status status =
      testing::RawIngest(address(), {batch}, kCallTimeout, &responses);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("must be a hello"));
  EXPECT_TRUE(responses.empty());
  ExpectNothingStored(ListProtocol(0).station_id(), kList);
}

TEST_F(BadInputTest, HelloWithoutCollectorIdIsInvalid) {
  StartAggregator();
  absl::StatusOr<std::unique_ptr<IngestSession>> session =
      IngestSession::Open(address(), "", kRegion, kCallTimeout);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(session.status().message(), HasSubstr("collector_id"));
}

TEST_F(BadInputTest, HelloWithUnknownRegionIsInvalid) {
  StartAggregator();
  absl::StatusOr<std::unique_ptr<IngestSession>> session =
      IngestSession::Open(address(), kCollector, "atlantis", kCallTimeout);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(session.status().message(), HasSubstr("\"atlantis\""));
  EXPECT_THAT(session.status().message(), HasSubstr("region_id"));
}

TEST_F(BadInputTest, OversizeBatchIsResourceExhausted) {
  StartAggregator({"--max_batch_entries", "8"});
  std::vector<v1::StationProtocol> eight;
  for (size_t i = 0; i < 8; ++i) eight.push_back(ListProtocol(i));
  std::vector<v1::StationProtocol> nine;
  for (size_t i = 8; i < 17; ++i) nine.push_back(ListProtocol(i));
  {
    absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ((*session)->welcome().max_batch_entries(), 8u);
    // At the limit: fine.
    absl::StatusOr<v1::IngestAck> ack =
        (*session)->Send(testing::Entries(eight, 1));
    ASSERT_TRUE(ack.ok()) << ack.status();
    EXPECT_EQ(ack->durable_seq(), 8u);
    // One more: the stream ends.
    ack = (*session)->Send(testing::Entries(nine, 9));
    ASSERT_FALSE(ack.ok());
    EXPECT_EQ(ack.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(ack.status().message(), HasSubstr("batch of 9 entries"));
    EXPECT_THAT(ack.status().message(), HasSubstr("limit of 8"));
  }
  // Nothing of the refused batch was applied.
  absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ((*session)->welcome().last_applied_seq(), 8u);
  EXPECT_TRUE((*session)->Close().ok());
  for (size_t i = 0; i < eight.size(); ++i) ExpectCounted(eight[i], i + 1);
  for (const v1::StationProtocol& protocol : nine) {
    ExpectNothingStored(protocol.station_id(), kList);
  }
}

TEST_F(BadInputTest, NonIncreasingSequenceInABatchIsInvalid) {
  StartAggregator();
  std::vector<v1::OutboxEntry> entries =
      testing::Entries({ListProtocol(0), ListProtocol(1), ListProtocol(2)}, 1);
  entries[2].set_seq(2);  // 1, 2, 2
  {
    absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
    ASSERT_TRUE(session.ok()) << session.status();
    absl::StatusOr<v1::IngestAck> ack = (*session)->Send(entries);
    ASSERT_FALSE(ack.ok());
    EXPECT_EQ(ack.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(ack.status().message(), HasSubstr("entries[2].seq 2"));
    EXPECT_THAT(ack.status().message(), HasSubstr("increase"));
  }
  absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ((*session)->welcome().last_applied_seq(), 0u);
  EXPECT_TRUE((*session)->Close().ok());
  for (size_t i = 0; i < 3; ++i) {
    ExpectNothingStored(ListProtocol(i).station_id(), kList);
  }
}

TEST_F(BadInputTest, ReadsOfUnknownContestOrStationAreNotFound) {
  StartAggregator();
  {
    v1::GetResultsRequest request;
    request.set_contest_id("no-such-contest");
    v1::GetResultsResponse response;
    const grpc::Status status = stub_->GetResults(
        testing::DeadlineContext(kCallTimeout).get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(status.error_message(), HasSubstr("\"no-such-contest\""));
  }
  {
    absl::StatusOr<v1::GetStationResponse> station = Station(999999, "");
    ASSERT_FALSE(station.ok());
    EXPECT_EQ(station.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(station.status().message(), HasSubstr("station 999999"));
  }
  {
    absl::StatusOr<v1::GetStationResponse> station =
        Station(region_stations_.front()->id(), "no-such-contest");
    ASSERT_FALSE(station.ok());
    EXPECT_EQ(station.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(station.status().message(), HasSubstr("\"no-such-contest\""));
  }
  // A known contest and station still answer.
  absl::StatusOr<v1::GetStationResponse> known =
      Station(region_stations_.front()->id(), kList);
  ASSERT_TRUE(known.ok()) << known.status();
  EXPECT_EQ(known->station().id(), region_stations_.front()->id());
}

// A caller's text is quoted at most a hundred or so bytes in any status:
// a 100 KB id must come back with its own code and a short message (an
// echo of it whole would exceed gRPC's metadata limit, and the client
// would see RESOURCE_EXHAUSTED instead).
constexpr size_t kShortMessage = 300;
const std::string& Huge() {
  static const std::string* const huge = new std::string(100 * 1024, 'x');
  return *huge;
}

TEST_F(BadInputTest, HugeIdsInReadsAreNotFoundWithShortMessages) {
  StartAggregator();
  v1::GetResultsRequest results;
  results.set_contest_id(Huge());
  v1::GetResultsResponse results_response;
  grpc::Status status = stub_->GetResults(
      testing::DeadlineContext(kCallTimeout).get(), results, &results_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(status.error_message().size(), kShortMessage)
      << status.error_message().substr(0, 1000);
  EXPECT_THAT(status.error_message(), HasSubstr("(102400 bytes)"));

  // A region scope of a known contest with a huge id.
  results.set_contest_id(kList);
  results.mutable_scope()->set_kind(v1::SCOPE_KIND_REGION);
  results.mutable_scope()->set_id(Huge());
  status = stub_->GetResults(testing::DeadlineContext(kCallTimeout).get(),
                             results, &results_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(status.error_message().size(), kShortMessage);

  absl::StatusOr<v1::GetStationResponse> station =
      Station(region_stations_.front()->id(), Huge());
  ASSERT_FALSE(station.ok());
  EXPECT_EQ(station.status().code(), absl::StatusCode::kNotFound);
  EXPECT_LT(station.status().message().size(), kShortMessage);
}

TEST_F(BadInputTest, HugeHelloFieldsAreInvalidWithShortMessages) {
  StartAggregator();
  absl::StatusOr<std::unique_ptr<IngestSession>> session =
      IngestSession::Open(address(), kCollector, Huge(), kCallTimeout);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(session.status().message().size(), kShortMessage);
  EXPECT_THAT(session.status().message(), HasSubstr("region_id"));

  // A collector id is an identifier, not a document.
  session = IngestSession::Open(address(), Huge(), kRegion, kCallTimeout);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(session.status().message().size(), kShortMessage);
  EXPECT_THAT(session.status().message(), HasSubstr("collector_id"));
  EXPECT_THAT(session.status().message(), HasSubstr("128 bytes"));
}

TEST_F(BadInputTest, HugeProtocolFieldsAreRefusedWithShortMessages) {
  StartAggregator();
  v1::StationProtocol contest = ListProtocol(2);
  contest.set_contest_id(Huge());
  v1::StationProtocol choice = ListProtocol(2);
  v1::ChoiceVotes* line = choice.add_votes();
  line->set_choice_id(Huge());
  line->set_votes(0);
  v1::StationProtocol digest = ListProtocol(2);
  digest.set_digest(Huge());
  const absl::StatusCode codes[] = {absl::StatusCode::kNotFound,
                                    absl::StatusCode::kInvalidArgument,
                                    absl::StatusCode::kInvalidArgument};
  absl::StatusOr<std::unique_ptr<IngestSession>> session = Open();
  ASSERT_TRUE(session.ok()) << session.status();
  absl::StatusOr<v1::IngestAck> ack =
      (*session)->Send(testing::Entries({contest, choice, digest}, 1));
  ASSERT_TRUE(ack.ok()) << ack.status().code();
  ASSERT_EQ(ack->results_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const v1::ProtocolResult& result = ack->results(i);
    EXPECT_EQ(result.outcome(), v1::OUTCOME_REJECTED);
    EXPECT_EQ(result.status_code(), Code(codes[i])) << result.message();
    EXPECT_LT(result.message().size(), kShortMessage) << result.message();
    for (const v1::Finding& finding : result.findings()) {
      EXPECT_LT(finding.field().size() + finding.message().size(),
                kShortMessage)
          << finding.field() << ": " << finding.message();
    }
  }
  EXPECT_TRUE((*session)->Close().ok());
  ExpectNothingStored(contest.station_id(), kList);
}

}  // namespace
}  // namespace tally
