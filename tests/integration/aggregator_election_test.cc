// The whole reference election through the real tally-aggregator binary on
// loopback: every protocol of every contest, with the corrections and
// duplicate resends of a realistic night, streamed by one collector session
// per region at once. The totals must equal the independently summed truth
// for every contest and scope, the national list must get the official
// seats, and all of it must survive a restart and an offline verification.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/simulator/night_generator.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/definition_generator.h"
#include "services/domain/election_index.h"
#include "services/domain/proto_json.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tests/support/election_checks.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"

namespace tally {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using testing::AllResults;
using testing::ExpectAllTotalsEqualTruth;
using testing::ExpectedScopeCount;
using testing::ExpectOfficialComposition;
using testing::ExpectOfficialListSeats;
using testing::ExpectOfficialPercentages;
using ::testing::HasSubstr;
using testing::IngestSession;

constexpr char kList[] = "mazhilis-list";
constexpr uint64_t kSeed = 2023;
constexpr size_t kBatch = 256;
constexpr uint32_t kStations = 10310;
constexpr size_t kProtocols = 20620;  // 10,310 list + 10,310 district
// Every unary call; generous for the sanitizer build.
constexpr absl::Duration kCallTimeout = absl::Seconds(60);
constexpr absl::Duration kStartTimeout = absl::Seconds(120);

std::vector<std::string> AggregatorArgs(const std::string& data_dir) {
  return {"--data_dir", data_dir, "--listen", "127.0.0.1:0", "--insecure"};
}

// Keeps the first few failures of a collector thread (gtest assertions are
// reported from the main thread, with the collector named).
class Failures {
 public:
  void Add(std::string failure) {
    ++count_;
    if (kept_.size() < 10) kept_.push_back(std::move(failure));
  }
  size_t count() const { return count_; }
  std::string Text() const {
    std::string out;
    for (const std::string& failure : kept_)
      absl::StrAppend(&out, failure, "\n");
    return out;
  }

 private:
  size_t count_ = 0;
  std::vector<std::string> kept_;
};

struct CollectorRun {
  std::string region;
  std::vector<const sim::Submission*> plan;  // this region's, in night order
  Failures failures;
  size_t accepted = 0;
  size_t duplicates = 0;
  uint64_t last_seq = 0;
  uint64_t last_revision = 0;
  // Where each (contest, station, version) was sent: its outbox sequence.
  std::map<std::tuple<std::string, uint32_t, uint32_t>, uint64_t> seq_of;
};

// One collector session: the region's submissions in batches of kBatch
// with increasing sequence numbers, every acknowledgement checked.
void RunCollector(const std::string& address, CollectorRun* run) {
  absl::StatusOr<std::unique_ptr<IngestSession>> session = IngestSession::Open(
      address, "collector-" + run->region, run->region, absl::Minutes(5));
  if (!session.ok()) {
    run->failures.Add(absl::StrCat("open: ", session.status().ToString()));
    return;
  }
  if ((*session)->welcome().last_applied_seq() != 0) {
    run->failures.Add(absl::StrCat("welcome.last_applied_seq ",
                                   (*session)->welcome().last_applied_seq(),
                                   " on a new data directory"));
  }
  uint64_t seq = 1;
  for (size_t begin = 0; begin < run->plan.size(); begin += kBatch) {
    const size_t end = std::min(run->plan.size(), begin + kBatch);
    std::vector<v1::OutboxEntry> entries;
    for (size_t i = begin; i < end; ++i) {
      v1::OutboxEntry& entry = entries.emplace_back();
      entry.set_seq(seq++);
      *entry.mutable_protocol() = run->plan[i]->protocol;
    }
    absl::StatusOr<v1::IngestAck> ack = (*session)->Send(entries);
    if (!ack.ok()) {
      run->failures.Add(absl::StrCat("batch from seq ", entries.front().seq(),
                                     ": ", ack.status().ToString()));
      return;
    }
    if (ack->durable_seq() != entries.back().seq()) {
      run->failures.Add(absl::StrCat("durable_seq ", ack->durable_seq(),
                                     " for a batch ending at seq ",
                                     entries.back().seq()));
    }
    if (ack->results_size() != static_cast<int>(entries.size())) {
      run->failures.Add(absl::StrCat(ack->results_size(), " results for ",
                                     entries.size(), " entries"));
      return;
    }
    run->last_revision = std::max(run->last_revision, ack->revision());
    for (size_t i = 0; i < entries.size(); ++i) {
      const sim::Submission& sent = *run->plan[begin + i];
      const v1::ProtocolResult& result = ack->results(static_cast<int>(i));
      const v1::Outcome expected =
          sent.duplicate ? v1::OUTCOME_DUPLICATE : v1::OUTCOME_ACCEPTED;
      if (result.contest_id() != sent.protocol.contest_id() ||
          result.station_id() != sent.protocol.station_id() ||
          result.version() != sent.protocol.version() ||
          result.sequence() != entries[i].seq() ||
          result.outcome() != expected || result.status_code() != 0) {
        run->failures.Add(absl::StrCat(
            "seq ", entries[i].seq(), " (", sent.protocol.contest_id(), "/",
            sent.protocol.station_id(), " v", sent.protocol.version(),
            sent.duplicate ? ", a resend" : "", "): got ",
            result.ShortDebugString()));
      }
      if (result.outcome() == v1::OUTCOME_ACCEPTED) ++run->accepted;
      if (result.outcome() == v1::OUTCOME_DUPLICATE) ++run->duplicates;
      if (!sent.duplicate) {
        run->seq_of[{sent.protocol.contest_id(), sent.protocol.station_id(),
                     sent.protocol.version()}] = entries[i].seq();
      }
    }
    run->last_seq = entries.back().seq();
  }
  if (grpc::Status closed = (*session)->Close(); !closed.ok()) {
    run->failures.Add(absl::StrCat("close: ", closed.error_message()));
  }
}

// Equal counted content: what a protocol says, not how it travelled.
bool SameContent(const v1::StationProtocol& a, const v1::StationProtocol& b) {
  v1::StationProtocol left = a;
  v1::StationProtocol right = b;
  left.clear_digest();
  right.clear_digest();
  return MessageDifferencer::Equals(left, right);
}

absl::StatusOr<int> Terminate(testing::Server& server) {
  server.process.Signal(SIGTERM);
  return server.process.Wait(absl::Minutes(2));
}

TEST(AggregatorElection, WholeNightCountsExactlyAndSurvivesRestart) {
  const testing::ReferenceElection& ref =
      testing::Reference(kSeed, testing::Truth::kOfficialResult);
  ASSERT_TRUE(ref.status.ok()) << ref.status;
  ASSERT_EQ(ref.truth.size(), kProtocols);

  sim::NightOptions night;
  night.seed = kSeed;
  night.targets = {ref.target};
  night.correction_percent = 5;
  night.duplicate_percent = 5;
  const std::vector<sim::Submission> plan =
      sim::PlanNight(*ref.index, ref.truth, night);
  size_t planned_duplicates = 0;
  size_t planned_corrections = 0;
  for (const sim::Submission& submission : plan) {
    if (submission.duplicate) {
      ++planned_duplicates;
    } else if (submission.protocol.version() == 2) {
      ++planned_corrections;
    }
  }
  // The night really has corrections and resends to get right.
  ASSERT_GT(planned_corrections, kProtocols / 40);
  ASSERT_GT(planned_duplicates, kProtocols / 40);
  ASSERT_EQ(plan.size(), kProtocols + planned_corrections + planned_duplicates);

  // One collector per region, each with its region's submissions in night
  // order (a station's versions stay in order: it has one region).
  std::map<std::string, CollectorRun> runs;
  for (const v1::Region& region : ref.index->definition().regions()) {
    runs[region.id()].region = region.id();
  }
  for (const sim::Submission& submission : plan) {
    const v1::PollingStation* station =
        ref.index->FindStation(submission.protocol.station_id());
    ASSERT_NE(station, nullptr);
    runs[station->region_id()].plan.push_back(&submission);
  }
  ASSERT_EQ(runs.size(), 20u);

  const std::string data_dir = testing::MakeTempDir("election");
  absl::StatusOr<testing::Server> server =
      testing::StartServer(AGGREGATOR_PATH, AggregatorArgs(data_dir),
                           data_dir + ".log", kStartTimeout);
  ASSERT_TRUE(server.ok()) << server.status();

  {
    std::vector<std::thread> threads;
    for (auto& [region, run] : runs) {
      threads.emplace_back(RunCollector, server->address, &run);
    }
    for (std::thread& thread : threads) thread.join();
  }
  size_t accepted = 0;
  size_t duplicates = 0;
  uint64_t last_ack_revision = 0;
  for (const auto& [region, run] : runs) {
    EXPECT_EQ(run.failures.count(), 0u) << "collector-" << region << ":\n"
                                        << run.failures.Text();
    EXPECT_EQ(run.last_seq, run.plan.size()) << region;
    accepted += run.accepted;
    duplicates += run.duplicates;
    last_ack_revision = std::max(last_ack_revision, run.last_revision);
  }
  ASSERT_EQ(duplicates, planned_duplicates);
  ASSERT_EQ(accepted, kProtocols + planned_corrections);

  auto stub = v1::Aggregator::NewStub(rpc::MakeChannel(server->address));
  absl::StatusOr<v1::GetResultsResponse> results =
      AllResults(*stub, kCallTimeout);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(results->revision(), last_ack_revision);
  ExpectAllTotalsEqualTruth(ref, *results);
  ExpectOfficialListSeats(*results);
  ExpectOfficialPercentages(ref, *results);
  ExpectOfficialComposition(ref, *results);

  // A corrected list protocol keeps both versions, the second counted.
  const sim::Submission* correction = nullptr;
  for (const sim::Submission& submission : plan) {
    if (submission.protocol.contest_id() == kList &&
        submission.protocol.version() == 2) {
      correction = &submission;
      break;
    }
  }
  ASSERT_NE(correction, nullptr);
  const v1::StationProtocol& v2 = correction->protocol;
  const v1::StationProtocol* v1_sent = nullptr;
  for (const sim::Submission& submission : plan) {
    if (submission.protocol.contest_id() == kList &&
        submission.protocol.station_id() == v2.station_id() &&
        submission.protocol.version() == 1) {
      v1_sent = &submission.protocol;
    }
  }
  ASSERT_NE(v1_sent, nullptr);
  {
    const std::string region =
        ref.index->FindStation(v2.station_id())->region_id();
    const CollectorRun& run = runs.at(region);
    v1::GetStationRequest request;
    request.set_station_id(v2.station_id());
    request.set_contest_id(kList);
    v1::GetStationResponse station;
    grpc::Status status = stub->GetStation(
        testing::DeadlineContext(kCallTimeout).get(), request, &station);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(station.station().id(), v2.station_id());
    EXPECT_EQ(station.station().region_id(), region);
    ASSERT_EQ(station.contests_size(), 1);
    const v1::StationContestHistory& history = station.contests(0);
    EXPECT_EQ(history.contest_id(), kList);
    EXPECT_EQ(history.current_version(), 2u);
    ASSERT_EQ(history.versions_size(), 2);
    EXPECT_EQ(history.versions(0).protocol().version(), 1u);
    EXPECT_EQ(history.versions(1).protocol().version(), 2u);
    EXPECT_TRUE(SameContent(history.versions(0).protocol(), *v1_sent));
    EXPECT_TRUE(SameContent(history.versions(1).protocol(), v2));
    EXPECT_FALSE(SameContent(history.versions(0).protocol(),
                             history.versions(1).protocol()));
    for (const v1::ProtocolVersion& version : history.versions()) {
      EXPECT_EQ(version.collector_id(), "collector-" + region);
      EXPECT_EQ(version.collector_seq(),
                run.seq_of.at(
                    {kList, v2.station_id(), version.protocol().version()}));
      EXPECT_GT(version.revision(), 0u);
      EXPECT_EQ(version.protocol().digest().size(), 32u);
    }
    // The correction may share the wrong version's commit (same batch).
    EXPECT_LE(history.versions(0).revision(), history.versions(1).revision());
    EXPECT_LT(history.versions(0).collector_seq(),
              history.versions(1).collector_seq());
  }

  absl::StatusOr<v1::VerifyResponse> verified =
      testing::VerifyOnline(*stub, absl::Minutes(5));
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_THAT(verified->differences(), ::testing::IsEmpty());
  EXPECT_EQ(verified->revision(), results->revision());
  EXPECT_EQ(verified->protocols_counted(), kProtocols);
  EXPECT_EQ(verified->protocol_versions(), kProtocols + planned_corrections);
  EXPECT_GE(verified->totals_compared(), ExpectedScopeCount(*ref.index));

  // Graceful stop, then the same answers from the same directory.
  stub.reset();  // an open connection would hold the stop for its grace
  absl::StatusOr<int> stopped = Terminate(*server);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << server->process.log();

  absl::StatusOr<testing::Server> restarted =
      testing::StartServer(AGGREGATOR_PATH, AggregatorArgs(data_dir),
                           data_dir + ".restart.log", kStartTimeout);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_THAT(
      restarted->process.log(),
      HasSubstr(absl::StrCat("at revision ", results->revision(), ",")));
  auto restarted_stub =
      v1::Aggregator::NewStub(rpc::MakeChannel(restarted->address));
  absl::StatusOr<v1::GetResultsResponse> after =
      AllResults(*restarted_stub, kCallTimeout);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->revision(), results->revision());
  {
    std::string differences;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(*results, *after)) << differences;
  }
  ExpectAllTotalsEqualTruth(ref, *after);

  restarted_stub.reset();
  stopped = Terminate(*restarted);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << restarted->process.log();

  absl::StatusOr<testing::CommandResult> offline = testing::RunCommand(
      TALLYCTL_PATH, {"verify", "--db", data_dir}, absl::Minutes(5));
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_EQ(offline->exit_code, 0) << offline->output;
  EXPECT_THAT(offline->output, HasSubstr(" 0 differences"));
  EXPECT_THAT(
      offline->output,
      HasSubstr(absl::StrCat("verified revision ", results->revision(), ":")));
  testing::RemoveTempDirUnlessFailed(data_dir);
}

TEST(AggregatorElection, GetElectionReturnsTheReferenceDefinition) {
  absl::StatusOr<v1::ElectionDefinition> reference =
      EmbeddedDefaultDefinition();
  ASSERT_TRUE(reference.ok()) << reference.status();
  uint64_t registered = 0;
  for (const v1::PollingStation& station : reference->stations()) {
    registered += station.registered_voters();
  }

  const std::string data_dir = testing::MakeTempDir("election-definition");
  absl::StatusOr<testing::Server> server =
      testing::StartServer(AGGREGATOR_PATH, AggregatorArgs(data_dir),
                           data_dir + ".log", kStartTimeout);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Aggregator::NewStub(rpc::MakeChannel(server->address));

  v1::GetElectionResponse brief;
  grpc::Status status =
      stub->GetElection(testing::DeadlineContext(kCallTimeout).get(),
                        v1::GetElectionRequest(), &brief);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(brief.definition().id(), "kz-2023-mazhilis");
  EXPECT_EQ(brief.definition().stations_size(), 0);
  EXPECT_EQ(brief.station_count(), kStations);
  EXPECT_EQ(brief.registered_voters(), registered);
  EXPECT_EQ(brief.definition().contests_size(), 30);
  EXPECT_EQ(brief.definition().regions_size(), 20);
  EXPECT_EQ(brief.definition().districts_size(), 29);
  EXPECT_EQ(brief.definition_digest().size(), 64u);
  EXPECT_EQ(brief.revision(), 0u);

  v1::GetElectionRequest request;
  request.set_include_stations(true);
  v1::GetElectionResponse full;
  status = stub->GetElection(testing::DeadlineContext(kCallTimeout).get(),
                             request, &full);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(full.definition().stations_size(), static_cast<int>(kStations));
  EXPECT_EQ(full.definition_digest(), brief.definition_digest());
  EXPECT_TRUE(MessageDifferencer::Equals(full.definition(), *reference));

  stub.reset();
  server->process.Signal(SIGTERM);
  absl::StatusOr<int> stopped = server->process.Wait(absl::Minutes(1));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0);
  testing::RemoveTempDirUnlessFailed(data_dir);
}

}  // namespace
}  // namespace tally
