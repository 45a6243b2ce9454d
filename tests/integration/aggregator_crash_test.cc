// Kill -9 at random moments while collectors stream: an acknowledged
// protocol is never lost, a resend after the crash is never counted twice,
// and the totals after every restart equal a recomputation from the stored
// protocols (docs/ARCHITECTURE.md, "The aggregator": one committer and
// classification by the per-collector cursor).
//
// Twenty collectors (one per region) stream the party-list protocols of
// their region in a seeded random order, in batches of 64, round-robin from
// one client thread. Outbox sequence k of a collector always carries the
// same protocol: position (k-1) mod n of its order, as version
// (k-1) / n + 1. Later rounds are re-submissions with the true content and
// a higher version, so the stream never runs dry before the kill and the
// totals equal the truth as soon as every station has reported once.
//
// The transparency log survives the kills too: after every restart the
// latest signed head holds exactly the applied versions, its totals digest
// is that of the totals served, every head seen before a kill is served
// again unchanged and is consistent with the new one (a consistency
// proof), and at the end `tallyctl audit` recomputes the whole log.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/simulator/night_generator.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/rpc/channel.h"
#include "services/rpc/status.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/merkle.h"
#include "services/transparency/totals_digest.h"
#include "services/transparency/tree_head.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/log.grpc.pb.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using testing::IngestSession;

constexpr char kList[] = "mazhilis-list";
constexpr int kCycles = 20;
constexpr uint64_t kBatch = 64;
constexpr uint64_t kSeed = 20230319;
constexpr int kMinKillDelayMs = 20;
constexpr int kMaxKillDelayMs = 300;
// Acknowledged protocols checked in the history after each restart, on
// top of the whole last acknowledged batch.
constexpr size_t kSamplesPerCycle = 100;
constexpr absl::Duration kCallTimeout = absl::Seconds(30);
constexpr absl::Duration kStartTimeout = absl::Minutes(2);

// One collector's stream.
struct Feed {
  std::string region;
  std::string collector;
  // The region's list protocols (version 1) in this collector's order.
  std::vector<const v1::StationProtocol*> order;
  // Highest durable_seq acknowledged to us.
  uint64_t acked = 0;
  // Highest sequence ever sent (acknowledged or not).
  uint64_t sent = 0;
  // What the aggregator reported applied at the last welcome.
  uint64_t applied = 0;

  v1::StationProtocol At(uint64_t seq) const {
    const uint64_t n = order.size();
    v1::StationProtocol protocol = *order[(seq - 1) % n];
    protocol.set_version(static_cast<uint32_t>((seq - 1) / n + 1));
    return protocol;
  }
};

// (collector, sequence) of an acknowledged entry.
struct Acked {
  size_t feed = 0;
  uint64_t seq = 0;
};

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::ReferenceElection& ref = testing::Reference(kSeed);
    ASSERT_TRUE(ref.status.ok()) << ref.status;
    index_ = ref.index.get();
    for (const v1::StationProtocol& protocol : ref.truth) {
      if (protocol.contest_id() == kList) list_.push_back(protocol);
    }
    ASSERT_EQ(list_.size(), 10310u);

    std::map<std::string, size_t> feed_of;
    for (const v1::Region& region : index_->definition().regions()) {
      feed_of[region.id()] = feeds_.size();
      Feed& feed = feeds_.emplace_back();
      feed.region = region.id();
      feed.collector = "collector-" + region.id();
    }
    for (const v1::StationProtocol& protocol : list_) {
      const v1::PollingStation* station =
          index_->FindStation(protocol.station_id());
      ASSERT_NE(station, nullptr);
      feeds_[feed_of.at(station->region_id())].order.push_back(&protocol);
    }
    for (Feed& feed : feeds_) {
      // A region always holds more than one batch of stations, so one batch
      // never names a station twice.
      ASSERT_GT(feed.order.size(), kBatch) << feed.region;
      std::shuffle(feed.order.begin(), feed.order.end(), rng_);
    }
    data_dir_ = testing::MakeTempDir("crash");
  }

  void TearDown() override { testing::RemoveTempDirUnlessFailed(data_dir_); }

  absl::StatusOr<testing::Server> Start(const std::string& label) {
    return testing::StartServer(
        AGGREGATOR_PATH,
        {"--data_dir", data_dir_, "--listen", "127.0.0.1:0", "--insecure"},
        absl::StrCat(data_dir_, ".", label, ".log"), kStartTimeout);
  }

  // One session per collector; checks that every acknowledged sequence
  // survived and resumes after what the aggregator has applied.
  void OpenSessions(const std::string& address,
                    std::vector<std::unique_ptr<IngestSession>>* sessions) {
    for (Feed& feed : feeds_) {
      absl::StatusOr<std::unique_ptr<IngestSession>> session =
          IngestSession::Open(address, feed.collector, feed.region,
                              absl::Minutes(2));
      ASSERT_TRUE(session.ok()) << feed.collector << ": " << session.status();
      const uint64_t applied = (*session)->welcome().last_applied_seq();
      // An acknowledged protocol is never lost; nothing unsent appears.
      ASSERT_GE(applied, feed.acked) << feed.collector;
      ASSERT_LE(applied, feed.sent) << feed.collector;
      feed.applied = applied;
      sessions->push_back(*std::move(session));
    }
  }

  // Sends the next batch of feed `i`. False when the stream failed (the
  // aggregator was killed); otherwise the batch is acknowledged and
  // checked, and `last_batch` holds it.
  bool SendNext(size_t i, IngestSession& session, std::vector<Acked>* acked,
                std::vector<Acked>* last_batch) {
    Feed& feed = feeds_[i];
    std::vector<v1::OutboxEntry> entries;
    for (uint64_t seq = feed.applied + 1; seq <= feed.applied + kBatch; ++seq) {
      v1::OutboxEntry& entry = entries.emplace_back();
      entry.set_seq(seq);
      *entry.mutable_protocol() = feed.At(seq);
    }
    feed.sent = std::max(feed.sent, entries.back().seq());
    absl::StatusOr<v1::IngestAck> ack = session.Send(entries);
    if (!ack.ok()) return false;
    EXPECT_EQ(ack->durable_seq(), entries.back().seq()) << feed.collector;
    EXPECT_EQ(ack->results_size(), static_cast<int>(entries.size()));
    for (const v1::ProtocolResult& result : ack->results()) {
      EXPECT_EQ(result.outcome(), v1::OUTCOME_ACCEPTED)
          << feed.collector << ": " << result.ShortDebugString();
    }
    feed.acked = ack->durable_seq();
    feed.applied = ack->durable_seq();
    last_batch->clear();
    for (const v1::OutboxEntry& entry : entries) {
      acked->push_back({i, entry.seq()});
      last_batch->push_back({i, entry.seq()});
    }
    return true;
  }

  // How often the version an entry carried is in its station's history:
  // exactly once when applied, never otherwise.
  absl::StatusOr<int> TimesStored(v1::Aggregator::Stub& stub, const Feed& feed,
                                  uint64_t seq) {
    const v1::StationProtocol protocol = feed.At(seq);
    v1::GetStationRequest request;
    request.set_station_id(protocol.station_id());
    request.set_contest_id(kList);
    v1::GetStationResponse response;
    grpc::Status status = stub.GetStation(
        testing::DeadlineContext(kCallTimeout).get(), request, &response);
    if (!status.ok()) return rpc::FromGrpc(status);
    if (response.contests_size() != 1) {
      return absl::InternalError("expected the history of one contest");
    }
    int times = 0;
    for (const v1::ProtocolVersion& version : response.contests(0).versions()) {
      if (version.protocol().version() != protocol.version()) continue;
      ++times;
      EXPECT_EQ(version.collector_id(), feed.collector);
      EXPECT_EQ(version.collector_seq(), seq);
      v1::StationProtocol stored = version.protocol();
      stored.clear_digest();
      EXPECT_TRUE(MessageDifferencer::Equals(stored, protocol))
          << stored.ShortDebugString();
    }
    return times;
  }

  void ExpectStoredOnce(v1::Aggregator::Stub& stub,
                        const std::vector<Acked>& entries) {
    for (const Acked& entry : entries) {
      absl::StatusOr<int> times =
          TimesStored(stub, feeds_[entry.feed], entry.seq);
      ASSERT_TRUE(times.ok()) << times.status();
      EXPECT_EQ(*times, 1) << feeds_[entry.feed].collector << " seq "
                           << entry.seq;
    }
  }

  // The entries sent but not acknowledged before the kill are either all
  // applied or all absent, as the welcome says.
  void ExpectInDoubtResolved(v1::Aggregator::Stub& stub,
                             const std::vector<uint64_t>& acked_before) {
    for (size_t i = 0; i < feeds_.size(); ++i) {
      const Feed& feed = feeds_[i];
      if (feed.sent <= acked_before[i]) continue;
      const uint64_t first = acked_before[i] + 1;
      absl::StatusOr<int> times = TimesStored(stub, feed, first);
      ASSERT_TRUE(times.ok()) << times.status();
      ++(feed.applied >= first ? in_doubt_applied_ : in_doubt_absent_);
      EXPECT_EQ(*times, feed.applied >= first ? 1 : 0)
          << feed.collector << " in-doubt seq " << first << ", applied "
          << feed.applied;
    }
  }

  // National list totals equal the truth of the stations reported so far:
  // each collector's first min(applied, n) stations.
  void ExpectTotalsMatchApplied(v1::Aggregator::Stub& stub) {
    std::vector<v1::StationProtocol> reported;
    for (const Feed& feed : feeds_) {
      const uint64_t n = std::min<uint64_t>(feed.applied, feed.order.size());
      for (uint64_t k = 0; k < n; ++k) reported.push_back(*feed.order[k]);
    }
    v1::GetResultsRequest request;
    request.set_contest_id(kList);
    v1::GetResultsResponse response;
    grpc::Status status = stub.GetResults(
        testing::DeadlineContext(kCallTimeout).get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.results_size(), 1);
    v1::Totals actual = response.results(0).totals();
    actual.clear_revision();
    const v1::Totals expected =
        sim::SumTruth(*index_, reported, kList, actual.scope());
    std::string differences;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(expected, actual)) << differences;
    EXPECT_EQ(actual.stations_reported(), reported.size());
  }

  void ExpectVerified(v1::Aggregator::Stub& stub) {
    v1::VerifyResponse report;
    grpc::Status status =
        stub.Verify(testing::DeadlineContext(absl::Minutes(2)).get(),
                    v1::VerifyRequest(), &report);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_THAT(report.differences(), ::testing::IsEmpty());
    // Every applied sequence is one stored version: none lost, none twice.
    uint64_t applied = 0;
    uint64_t counted = 0;
    for (const Feed& feed : feeds_) {
      applied += feed.applied;
      counted += std::min<uint64_t>(feed.applied, feed.order.size());
    }
    EXPECT_EQ(report.protocol_versions(), applied);
    EXPECT_EQ(report.protocols_counted(), counted);
  }

  // The log after a restart: the latest head signed, of exactly the
  // applied versions and the served totals; every earlier head unchanged
  // and consistent with it.
  void ExpectLogAgrees(const std::string& address, v1::Aggregator::Stub& stub) {
    auto log = v1::Log::NewStub(rpc::MakeChannel(address));
    uint64_t applied = 0;
    for (const Feed& feed : feeds_) applied += feed.applied;
    v1::GetTreeHeadResponse latest;
    grpc::Status status = log->GetTreeHead(
        testing::DeadlineContext(kCallTimeout).get(), {}, &latest);
    if (applied == 0) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
      return;
    }
    ASSERT_TRUE(status.ok()) << status.error_message();
    absl::StatusOr<transparency::Ed25519PublicKey> key =
        transparency::ReadPublicKeyFile(data_dir_ + "/log_signing_key.pem");
    ASSERT_TRUE(key.ok()) << key.status();
    const v1::TreeHead& head = latest.signed_head().head();
    EXPECT_TRUE(
        transparency::VerifySignedTreeHead(latest.signed_head(), *key).ok());
    EXPECT_EQ(head.tree_size(), applied);

    v1::GetResultsRequest request;
    request.set_all_scopes(true);
    v1::GetResultsResponse results;
    status = stub.GetResults(testing::DeadlineContext(kCallTimeout).get(),
                             request, &results);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(results.revision(), head.revision());
    transparency::TotalsDigester digester;
    for (const v1::ContestResults& entry : results.results()) {
      digester.Set(entry.totals());
    }
    EXPECT_EQ(transparency::HashBytes(digester.Digest()), head.totals_digest())
        << "the served totals are not those the head signed";

    for (const v1::SignedTreeHead& earlier : heads_seen_) {
      v1::GetTreeHeadRequest again;
      again.set_revision(earlier.head().revision());
      v1::GetTreeHeadResponse served;
      status = log->GetTreeHead(testing::DeadlineContext(kCallTimeout).get(),
                                again, &served);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_TRUE(MessageDifferencer::Equals(served.signed_head(), earlier))
          << "the head of revision " << earlier.head().revision() << " changed";
      v1::GetConsistencyProofRequest between;
      between.set_first(earlier.head().tree_size());
      between.set_second(head.tree_size());
      v1::GetConsistencyProofResponse proof;
      status = log->GetConsistencyProof(
          testing::DeadlineContext(kCallTimeout).get(), between, &proof);
      ASSERT_TRUE(status.ok()) << status.error_message();
      std::vector<transparency::Hash> hashes;
      for (const std::string& hash : proof.proof()) {
        hashes.push_back(*transparency::HashFromBytes(hash, "proof"));
      }
      EXPECT_TRUE(
          transparency::VerifyConsistency(
              earlier.head().tree_size(), head.tree_size(),
              *transparency::HashFromBytes(earlier.head().root_hash(), "root"),
              *transparency::HashFromBytes(head.root_hash(), "root"), hashes)
              .ok())
          << "revision " << earlier.head().revision() << " to "
          << head.revision();
    }
    heads_seen_.push_back(latest.signed_head());
  }

  // One head seen after each restart.
  std::vector<v1::SignedTreeHead> heads_seen_;
  // Batches cut off by a kill, by what the restart found.
  int in_doubt_applied_ = 0;
  int in_doubt_absent_ = 0;
  std::mt19937_64 rng_{kSeed};
  const ElectionIndex* index_ = nullptr;
  std::vector<v1::StationProtocol> list_;
  std::vector<Feed> feeds_;
  std::string data_dir_;
};

TEST_F(CrashTest, KillNineNeverLosesOrDoublesAnAcknowledgedProtocol) {
  std::uniform_int_distribution<int> delay_ms(kMinKillDelayMs, kMaxKillDelayMs);
  std::vector<Acked> to_check;  // acknowledged before the last kill
  std::vector<uint64_t> acked_before(feeds_.size(), 0);
  uint64_t total_acked_batches = 0;

  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    const absl::Time cycle_start = absl::Now();
    absl::StatusOr<testing::Server> server =
        Start(absl::StrCat("cycle", cycle));
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = v1::Aggregator::NewStub(rpc::MakeChannel(server->address));
    std::vector<std::unique_ptr<IngestSession>> sessions;
    ASSERT_NO_FATAL_FAILURE(OpenSessions(server->address, &sessions));
    ASSERT_NO_FATAL_FAILURE(ExpectStoredOnce(*stub, to_check));
    ASSERT_NO_FATAL_FAILURE(ExpectInDoubtResolved(*stub, acked_before));
    ASSERT_NO_FATAL_FAILURE(ExpectTotalsMatchApplied(*stub));
    ASSERT_NO_FATAL_FAILURE(ExpectVerified(*stub));
    ASSERT_NO_FATAL_FAILURE(ExpectLogAgrees(server->address, *stub));

    const absl::Duration checks = absl::Now() - cycle_start;

    // Stream round-robin until the kill lands.
    const int delay = delay_ms(rng_);
    testing::Process& process = server->process;
    std::thread killer([&process, delay] {
      absl::SleepFor(absl::Milliseconds(delay));
      process.Signal(SIGKILL);
    });
    std::vector<Acked> acked;
    std::vector<Acked> last_batch;
    const absl::Time deadline = absl::Now() + absl::Minutes(1);
    bool streaming = true;
    uint64_t batches = 0;
    while (streaming && absl::Now() < deadline) {
      for (size_t i = 0; i < feeds_.size() && streaming; ++i) {
        streaming = SendNext(i, *sessions[i], &acked, &last_batch);
        if (streaming) ++batches;
      }
    }
    killer.join();
    std::printf(
        "cycle %d: restart and checks took %s; killed after %d ms with %llu "
        "batches acknowledged\n",
        cycle,
        absl::FormatDuration(absl::Trunc(checks, absl::Milliseconds(1)))
            .c_str(),
        delay, static_cast<unsigned long long>(batches));
    EXPECT_FALSE(streaming) << "the stream outlived the kill";
    absl::StatusOr<int> exit_code = process.Wait(absl::Minutes(1));
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    EXPECT_EQ(*exit_code, 128 + SIGKILL);
    total_acked_batches += batches;

    // What to check after the restart: a seeded sample of this cycle's
    // acknowledged entries and the whole last acknowledged batch.
    std::shuffle(acked.begin(), acked.end(), rng_);
    acked.resize(std::min(acked.size(), kSamplesPerCycle));
    to_check = std::move(acked);
    to_check.insert(to_check.end(), last_batch.begin(), last_batch.end());
    for (size_t i = 0; i < feeds_.size(); ++i) {
      acked_before[i] = feeds_[i].acked;
    }
  }
  // The kills landed while batches were flowing, not before the first.
  EXPECT_GT(total_acked_batches, static_cast<uint64_t>(kCycles));
  std::printf(
      "%llu batches acknowledged; batches cut off by a kill: %d found "
      "applied, %d absent\n",
      static_cast<unsigned long long>(total_acked_batches), in_doubt_applied_,
      in_doubt_absent_);

  // Last start: everything left, up to the end of the current round.
  absl::StatusOr<testing::Server> server = Start("final");
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Aggregator::NewStub(rpc::MakeChannel(server->address));
  std::vector<std::unique_ptr<IngestSession>> sessions;
  ASSERT_NO_FATAL_FAILURE(OpenSessions(server->address, &sessions));
  ASSERT_NO_FATAL_FAILURE(ExpectStoredOnce(*stub, to_check));
  ASSERT_NO_FATAL_FAILURE(ExpectInDoubtResolved(*stub, acked_before));
  for (size_t i = 0; i < feeds_.size(); ++i) {
    Feed& feed = feeds_[i];
    const uint64_t n = feed.order.size();
    const uint64_t end = std::max<uint64_t>(n, (feed.applied + n - 1) / n * n);
    while (feed.applied < end) {
      std::vector<v1::OutboxEntry> entries;
      for (uint64_t seq = feed.applied + 1;
           seq <= std::min(end, feed.applied + kBatch); ++seq) {
        v1::OutboxEntry& entry = entries.emplace_back();
        entry.set_seq(seq);
        *entry.mutable_protocol() = feed.At(seq);
      }
      absl::StatusOr<v1::IngestAck> ack = sessions[i]->Send(entries);
      ASSERT_TRUE(ack.ok()) << feed.collector << ": " << ack.status();
      ASSERT_EQ(ack->durable_seq(), entries.back().seq());
      for (const v1::ProtocolResult& result : ack->results()) {
        ASSERT_EQ(result.outcome(), v1::OUTCOME_ACCEPTED)
            << result.ShortDebugString();
      }
      feed.applied = feed.acked = feed.sent = ack->durable_seq();
    }
    EXPECT_TRUE(sessions[i]->Close().ok());
  }

  // Exactly the truth, in every scope of the list contest.
  v1::GetResultsRequest request;
  request.set_contest_id(kList);
  request.set_all_scopes(true);
  v1::GetResultsResponse results;
  grpc::Status status = stub->GetResults(
      testing::DeadlineContext(kCallTimeout).get(), request, &results);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::ElectionDefinition& definition = index_->definition();
  ASSERT_EQ(results.results_size(),
            1 + definition.regions_size() + definition.districts_size());
  for (const v1::ContestResults& entry : results.results()) {
    v1::Totals actual = entry.totals();
    actual.clear_revision();
    const v1::Totals expected =
        sim::SumTruth(*index_, list_, kList, actual.scope());
    std::string differences;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(expected, actual))
        << actual.scope().ShortDebugString() << ":\n"
        << differences;
  }
  EXPECT_EQ(results.results(0).totals().stations_reported(), 10310u);
  ASSERT_NO_FATAL_FAILURE(ExpectVerified(*stub));
  ASSERT_NO_FATAL_FAILURE(ExpectLogAgrees(server->address, *stub));

  // The whole log recomputed from its leaves by the auditor.
  absl::StatusOr<testing::CommandResult> audit = testing::RunCommand(
      TALLYCTL_PATH,
      {"audit", "--aggregator", server->address, "--insecure",
       "--log_public_key", data_dir_ + "/log_signing_key.pem"},
      absl::Minutes(10));
  ASSERT_TRUE(audit.ok()) << audit.status();
  EXPECT_EQ(audit->exit_code, 0) << audit->output;
  std::printf("%s", audit->output.c_str());

  sessions.clear();
  stub.reset();  // an open connection would hold the stop for its grace
  testing::ExpectCleanStop(*server);

  absl::StatusOr<testing::CommandResult> offline = testing::RunCommand(
      TALLYCTL_PATH, {"verify", "--db", data_dir_}, absl::Minutes(5));
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_EQ(offline->exit_code, 0) << offline->output;
  EXPECT_THAT(offline->output, HasSubstr(" 0 differences"));
}

}  // namespace
}  // namespace tally
