// Replicated aggregators on a real etcd cluster: 3 etcd members and 3
// tally-aggregator replicas on loopback, started by the test. The leader is
// killed, paused and cut off while collectors stream; etcd loses a member
// and then its quorum; replicas join empty or with a wiped disk. Through
// all of it: every acknowledged protocol is counted exactly once, and every
// replica ends with the same revision, totals and a clean verify. A contest
// decided before a failover stays decided at the same revision on the
// promoted replica and on the killed one restarted.
//
// The collectors are simulated in-process (like aggregator_crash_test):
// twenty streams, one per region, each sending its region's list protocols
// in a seeded order. Outbox sequence k of a collector always carries the
// same protocol, version (k-1)/n + 1, so a resend is recognisable and the
// totals equal the truth once every station has reported.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/process/etcd_cluster.h"
#include "clients/simulator/night_generator.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/definition_generator.h"
#include "services/domain/election_index.h"
#include "services/rpc/channel.h"
#include "services/rpc/reactor_hand_off.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/tree_head.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/log.grpc.pb.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/replicated_cluster.h"

namespace tally {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using testing::IngestSession;
using testing::ReplicatedCluster;

constexpr char kList[] = "mazhilis-list";
constexpr uint64_t kBatch = 64;
constexpr uint64_t kSeed = 20230319;
constexpr absl::Duration kCallTimeout = absl::Seconds(30);

// One collector's stream (see the file comment).
struct Feed {
  std::string region;
  std::string collector;
  std::vector<const v1::StationProtocol*> order;
  uint64_t acked = 0;    // highest sequence acknowledged to us
  uint64_t sent = 0;     // highest sequence ever sent
  uint64_t applied = 0;  // what the last welcome said

  v1::StationProtocol At(uint64_t seq) const {
    const uint64_t n = order.size();
    v1::StationProtocol protocol = *order[(seq - 1) % n];
    protocol.set_version(static_cast<uint32_t>((seq - 1) / n + 1));
    return protocol;
  }
};

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<v1::ElectionDefinition> definition =
        EmbeddedDefaultDefinition();
    ASSERT_TRUE(definition.ok()) << definition.status();
    absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
        ElectionIndex::Build(*std::move(definition));
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = *std::move(index);
    sim::NightOptions options;
    options.seed = kSeed;
    absl::StatusOr<std::vector<v1::StationProtocol>> truth =
        sim::GenerateTruth(*index_, options);
    ASSERT_TRUE(truth.ok()) << truth.status();
    for (v1::StationProtocol& protocol : *truth) {
      if (protocol.contest_id() == kList) {
        list_.push_back(std::move(protocol));
      } else {
        districts_.push_back(std::move(protocol));
      }
    }
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
      ASSERT_GT(feed.order.size(), kBatch) << feed.region;
      std::shuffle(feed.order.begin(), feed.order.end(), rng_);
    }
    dir_ = testing::MakeTempDir("replication");
  }

  void TearDown() override {
    cluster_.reset();
    testing::RemoveTempDirUnlessFailed(dir_);
  }

  void StartCluster(std::vector<std::string> extra_args = {},
                    int start_replicas = -1) {
    testing::ReplicatedClusterOptions options;
    options.aggregator_binary = AGGREGATOR_PATH;
    options.dir = dir_;
    options.extra_args = std::move(extra_args);
    options.start_replicas = start_replicas;
    absl::StatusOr<std::unique_ptr<ReplicatedCluster>> cluster =
        ReplicatedCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  // Opens one session per collector on `address`; every acknowledged
  // sequence must be applied there (never lost), nothing unsent.
  void OpenSessions(const std::string& address,
                    std::vector<std::unique_ptr<IngestSession>>* sessions) {
    sessions->clear();
    for (Feed& feed : feeds_) {
      absl::StatusOr<std::unique_ptr<IngestSession>> session =
          IngestSession::Open(address, feed.collector, feed.region,
                              absl::Minutes(2));
      ASSERT_TRUE(session.ok()) << feed.collector << ": " << session.status();
      const uint64_t applied = (*session)->welcome().last_applied_seq();
      ASSERT_GE(applied, feed.acked) << feed.collector
                                     << " lost acknowledged "
                                        "protocols";
      ASSERT_LE(applied, feed.sent) << feed.collector;
      feed.applied = applied;
      sessions->push_back(*std::move(session));
    }
  }

  // Sends the next batch of feed `i`; false when the stream failed.
  // The next batch of feed `i` after what it has applied.
  std::vector<v1::OutboxEntry> NextBatch(size_t i) {
    Feed& feed = feeds_[i];
    std::vector<v1::OutboxEntry> entries;
    for (uint64_t seq = feed.applied + 1; seq <= feed.applied + kBatch; ++seq) {
      v1::OutboxEntry& entry = entries.emplace_back();
      entry.set_seq(seq);
      *entry.mutable_protocol() = feed.At(seq);
    }
    return entries;
  }

  bool SendNext(size_t i, IngestSession& session) {
    Feed& feed = feeds_[i];
    const std::vector<v1::OutboxEntry> entries = NextBatch(i);
    feed.sent = std::max(feed.sent, entries.back().seq());
    absl::StatusOr<v1::IngestAck> ack = session.Send(entries);
    if (!ack.ok()) return false;
    EXPECT_EQ(ack->durable_seq(), entries.back().seq()) << feed.collector;
    for (const v1::ProtocolResult& result : ack->results()) {
      EXPECT_EQ(result.outcome(), v1::OUTCOME_ACCEPTED)
          << feed.collector << ": " << result.ShortDebugString();
    }
    feed.acked = feed.applied = ack->durable_seq();
    return true;
  }

  // Sends every feed to the end of its current pass over the stations (at
  // least one whole pass), on the leader.
  void Complete(const std::string& address) {
    std::vector<std::unique_ptr<IngestSession>> sessions;
    ASSERT_NO_FATAL_FAILURE(OpenSessions(address, &sessions));
    for (size_t i = 0; i < feeds_.size(); ++i) {
      Feed& feed = feeds_[i];
      const uint64_t n = feed.order.size();
      const uint64_t end =
          std::max<uint64_t>(n, (feed.applied + n - 1) / n * n);
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
        feed.applied = feed.acked = feed.sent = ack->durable_seq();
      }
      EXPECT_TRUE(sessions[i]->Close().ok());
    }
  }

  // Every running replica: the same revision and results, equal to the
  // truth, a clean verify whose counts match what was applied, and the
  // same transparency log head, byte for byte (one leaf per applied
  // version, signed with the cluster's one key).
  void ExpectReplicasExact() {
    absl::StatusOr<uint64_t> revision =
        cluster_->WaitConverged(absl::Minutes(2));
    ASSERT_TRUE(revision.ok()) << revision.status();
    uint64_t applied = 0;
    uint64_t counted = 0;
    for (const Feed& feed : feeds_) {
      applied += feed.applied;
      counted += std::min<uint64_t>(feed.applied, feed.order.size());
    }
    std::optional<v1::GetResultsResponse> first;
    std::optional<v1::GetTreeHeadResponse> first_head;
    for (int i = 0; i < cluster_->size(); ++i) {
      if (!cluster_->running(i)) continue;
      SCOPED_TRACE(absl::StrCat("replica r", i));
      v1::GetResultsRequest request;
      request.set_contest_id(kList);
      request.set_all_scopes(true);
      v1::GetResultsResponse results;
      grpc::Status status = cluster_->stub(i).GetResults(
          testing::DeadlineContext(kCallTimeout).get(), request, &results);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(results.revision(), *revision);
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
      // The night is complete: the list is decided, at a revision every
      // replica (restarted, promoted or not) publishes alike (compared
      // with the rest of the results below).
      for (const v1::ContestResults& entry : results.results()) {
        if (!entry.has_allocation()) continue;
        EXPECT_TRUE(entry.allocation().decided());
        EXPECT_GT(entry.allocation().decided_revision(), 0u);
        EXPECT_LE(entry.allocation().decided_revision(), *revision);
      }
      if (!first.has_value()) {
        first = results;
      } else {
        EXPECT_TRUE(MessageDifferencer::Equals(*first, results))
            << "replica r" << i << " differs from the first replica";
      }
      v1::VerifyResponse report;
      status = cluster_->stub(i).Verify(
          testing::DeadlineContext(absl::Minutes(2)).get(), v1::VerifyRequest(),
          &report);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_THAT(report.differences(), ::testing::IsEmpty());
      EXPECT_EQ(report.revision(), *revision);
      EXPECT_EQ(report.protocol_versions(), applied);
      EXPECT_EQ(report.protocols_counted(), counted);

      v1::GetTreeHeadResponse head;
      status = v1::Log::NewStub(rpc::MakeChannel(cluster_->address(i)))
                   ->GetTreeHead(testing::DeadlineContext(kCallTimeout).get(),
                                 {}, &head);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(head.signed_head().head().revision(), *revision);
      EXPECT_EQ(head.signed_head().head().tree_size(), applied);
      if (!first_head.has_value()) {
        first_head = head;
      } else {
        EXPECT_TRUE(MessageDifferencer::Equals(*first_head, head))
            << "replica r" << i << "'s tree head differs from the first's";
      }
    }
  }

  std::mt19937_64 rng_{kSeed};
  std::unique_ptr<ElectionIndex> index_;
  std::vector<v1::StationProtocol> list_;
  // The district contests' truth (the feeds send only the list).
  std::vector<v1::StationProtocol> districts_;
  std::vector<Feed> feeds_;
  std::string dir_;
  std::unique_ptr<ReplicatedCluster> cluster_;
};

TEST_F(ReplicationTest, FollowersRefuseIngestNamingTheLeader) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  absl::StatusOr<int> leader = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(leader.ok()) << leader.status();
  absl::StatusOr<v1::ReplicaStatus> leader_status = cluster_->Status(*leader);
  ASSERT_TRUE(leader_status.ok());
  EXPECT_GT(leader_status->epoch(), 0u);
  EXPECT_EQ(leader_status->leader_address(), cluster_->address(*leader));
  for (int i = 0; i < cluster_->size(); ++i) {
    if (i == *leader) continue;
    SCOPED_TRACE(absl::StrCat("follower r", i));
    // The follower learns the leader within its status interval.
    absl::StatusOr<v1::ReplicaStatus> status;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    do {
      status = cluster_->Status(i);
      ASSERT_TRUE(status.ok()) << status.status();
      if (status->leader_address() == cluster_->address(*leader)) break;
      absl::SleepFor(absl::Milliseconds(100));
    } while (absl::Now() < deadline);
    EXPECT_EQ(status->role(), v1::ReplicaStatus::FOLLOWER);
    EXPECT_EQ(status->epoch(), leader_status->epoch());
    EXPECT_EQ(status->leader_replica_id(), leader_status->replica_id());

    auto stub = v1::Aggregator::NewStub(rpc::MakeChannel(cluster_->address(i)));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
    auto stream = stub->Ingest(&context);
    v1::IngestRequest hello;
    hello.mutable_hello()->set_collector_id("collector-astana");
    hello.mutable_hello()->set_region_id("astana");
    stream->Write(hello);
    stream->WritesDone();
    v1::IngestResponse response;
    while (stream->Read(&response)) {
    }
    const grpc::Status refused = stream->Finish();
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(refused.error_message(), HasSubstr(cluster_->address(*leader)));
    auto metadata = context.GetServerTrailingMetadata();
    auto it = metadata.find("tally-leader");
    ASSERT_NE(it, metadata.end());
    EXPECT_EQ(std::string(it->second.data(), it->second.size()),
              cluster_->address(*leader));
  }
  // The leader takes it, and every replica applies the same rounds.
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*leader)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());
}

// Every replica signs the transparency log's heads with the cluster's one
// key (given by --log_signing_key here), so every replica serves the same
// heads; a replica started with another key is refused, naming both.
TEST_F(ReplicationTest, ReplicasSignWithTheClustersOneKey) {
  absl::StatusOr<transparency::Ed25519PrivateKey> key =
      transparency::Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  const std::string key_path = dir_ + "/log_signing_key.pem";
  ASSERT_TRUE(transparency::WritePrivateKeyFile(key_path, *key).ok());
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--log_signing_key", key_path}));
  absl::StatusOr<int> leader = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(leader.ok()) << leader.status();
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*leader)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());  // identical heads
  for (int i = 0; i < cluster_->size(); ++i) {
    v1::GetTreeHeadResponse head;
    ASSERT_TRUE(v1::Log::NewStub(rpc::MakeChannel(cluster_->address(i)))
                    ->GetTreeHead(testing::DeadlineContext(kCallTimeout).get(),
                                  {}, &head)
                    .ok());
    EXPECT_TRUE(transparency::VerifySignedTreeHead(head.signed_head(),
                                                   key->public_key())
                    .ok())
        << "replica r" << i;
  }

  absl::StatusOr<transparency::Ed25519PrivateKey> other =
      transparency::Ed25519PrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  const std::string other_path = dir_ + "/other_key.pem";
  ASSERT_TRUE(transparency::WritePrivateKeyFile(other_path, *other).ok());
  absl::StatusOr<testing::CommandResult> refused = testing::RunCommand(
      AGGREGATOR_PATH,
      {"--data_dir", dir_ + "/stranger", "--listen", "127.0.0.1:0",
       "--insecure", "--etcd_endpoints", cluster_->etcd().endpoints(),
       "--replica_id", "stranger", "--advertise", "127.0.0.1:1",
       "--log_signing_key", other_path},
      absl::Minutes(2));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->exit_code, 1) << refused->output;
  EXPECT_THAT(refused->output, HasSubstr("is not the cluster's"));
  EXPECT_THAT(refused->output, HasSubstr(key->public_key().Fingerprint()));
  EXPECT_THAT(refused->output, HasSubstr(other->public_key().Fingerprint()));
}

TEST_F(ReplicationTest, LeaderKilledTenTimesLosesAndDoublesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::uniform_int_distribution<int> delay_ms(200, 1500);
  std::vector<double> failover_seconds;
  int leader = -1;
  absl::Time killed_at = absl::InfinitePast();
  for (int cycle = 0; cycle < 10; ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    absl::StatusOr<int> elected =
        cluster_->WaitForLeader(absl::Minutes(1), leader);
    ASSERT_TRUE(elected.ok()) << elected.status();
    leader = *elected;
    std::vector<std::unique_ptr<IngestSession>> sessions;
    ASSERT_NO_FATAL_FAILURE(OpenSessions(cluster_->address(leader), &sessions));
    const int delay = delay_ms(rng_);
    std::atomic<bool> first_ack{false};
    std::thread killer([this, leader, delay] {
      absl::SleepFor(absl::Milliseconds(delay));
      cluster_->Kill(leader);
    });
    bool streaming = true;
    uint64_t batches = 0;
    const absl::Time deadline = absl::Now() + absl::Minutes(1);
    while (streaming && absl::Now() < deadline) {
      for (size_t i = 0; i < feeds_.size() && streaming; ++i) {
        streaming = SendNext(i, *sessions[i]);
        if (streaming) {
          ++batches;
          if (!first_ack.exchange(true) && killed_at != absl::InfinitePast()) {
            failover_seconds.push_back(
                absl::ToDoubleSeconds(absl::Now() - killed_at));
          }
        }
      }
    }
    killed_at = absl::Now();
    killer.join();
    EXPECT_FALSE(streaming) << "the stream outlived the kill";
    sessions.clear();
    std::printf(
        "cycle %d: leader r%d killed after %d ms, %llu batches "
        "acknowledged\n",
        cycle, leader, delay, static_cast<unsigned long long>(batches));
    // Back to three replicas: the killed one resumes from its store.
    ASSERT_TRUE(cluster_->StartReplica(leader).ok()) << cluster_->log(leader);
  }
  absl::StatusOr<int> elected = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(elected.ok()) << elected.status();
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*elected)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());
  std::sort(failover_seconds.begin(), failover_seconds.end());
  ASSERT_FALSE(failover_seconds.empty());
  std::printf(
      "failover, kill to first new acknowledgement: p50 %.2f s, max "
      "%.2f s over %zu kills\n",
      failover_seconds[failover_seconds.size() / 2], failover_seconds.back(),
      failover_seconds.size());
}

TEST_F(ReplicationTest, PausedLeaderIsFencedAndStepsDown) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  absl::StatusOr<int> first = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(first.ok()) << first.status();
  const int old_leader = *first;
  std::vector<std::unique_ptr<IngestSession>> sessions;
  ASSERT_NO_FATAL_FAILURE(
      OpenSessions(cluster_->address(old_leader), &sessions));
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < feeds_.size(); ++i) {
      ASSERT_TRUE(SendNext(i, *sessions[i]));
    }
  }
  // Paused past its lease (every thread stopped), with a batch on its way
  // to it. The batch is built here: the sending thread touches no feed.
  const absl::Status paused = cluster_->Pause(old_leader);
  ASSERT_TRUE(paused.ok()) << paused;
  const std::vector<v1::OutboxEntry> in_doubt_batch = NextBatch(0);
  feeds_[0].sent = std::max(feeds_[0].sent, in_doubt_batch.back().seq());
  std::atomic<bool> in_doubt_acknowledged{false};
  std::string in_doubt_answer;
  std::thread in_doubt([&, session = sessions[0].get()] {
    absl::StatusOr<v1::IngestAck> ack = session->Send(in_doubt_batch);
    in_doubt_answer =
        ack.ok() ? ack->ShortDebugString() : ack.status().ToString();
    in_doubt_acknowledged = ack.ok();
  });
  // A failed assertion below must not leave the thread joinable.
  absl::Cleanup join_in_doubt = [&] {
    if (!in_doubt.joinable()) return;
    cluster_->Resume(old_leader);
    in_doubt.join();
  };
  absl::StatusOr<int> next =
      cluster_->WaitForLeader(absl::Minutes(1), old_leader);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_NE(*next, old_leader);
  std::vector<std::unique_ptr<IngestSession>> moved;
  // The in-doubt batch of feed 0 is not acknowledged (its stream waits on
  // the paused replica): its resend is judged by the new leader's cursor.
  ASSERT_NO_FATAL_FAILURE(OpenSessions(cluster_->address(*next), &moved));
  for (size_t i = 0; i < feeds_.size(); ++i) {
    ASSERT_TRUE(SendNext(i, *moved[i]));
  }
  // It wakes up: its lease is gone, so is its fence. Whatever it still had
  // in flight is refused by etcd, and it steps down.
  cluster_->Resume(old_leader);
  in_doubt.join();
  EXPECT_FALSE(in_doubt_acknowledged)
      << "a deposed leader acknowledged: " << in_doubt_answer << "\n"
      << cluster_->log(old_leader);
  // The role changes before the step-down is logged: wait for both.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::StatusOr<v1::ReplicaStatus> status;
  do {
    status = cluster_->Status(old_leader);
    if (status.ok() && status->role() == v1::ReplicaStatus::FOLLOWER &&
        status->leader_address() == cluster_->address(*next) &&
        absl::StrContains(cluster_->log(old_leader), "no longer the leader")) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  } while (absl::Now() < deadline);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->role(), v1::ReplicaStatus::FOLLOWER);
  EXPECT_THAT(cluster_->log(old_leader), HasSubstr("no longer the leader"));
  sessions.clear();
  moved.clear();
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*next)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());
}

TEST_F(ReplicationTest, EtcdLosingAMemberAndThenItsQuorum) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  absl::StatusOr<int> leader = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(leader.ok()) << leader.status();
  std::vector<std::unique_ptr<IngestSession>> sessions;
  ASSERT_NO_FATAL_FAILURE(OpenSessions(cluster_->address(*leader), &sessions));
  for (size_t i = 0; i < feeds_.size(); ++i) {
    ASSERT_TRUE(SendNext(i, *sessions[i]));
  }
  // One member of three down: the others are a quorum, ingest goes on
  // (perhaps after a failover if the leader's lease was on that member).
  cluster_->etcd().Kill(0);
  bool ingesting = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!ingesting && absl::Now() < deadline) {
    absl::StatusOr<int> current = cluster_->WaitForLeader(absl::Seconds(30));
    ASSERT_TRUE(current.ok()) << current.status();
    ASSERT_NO_FATAL_FAILURE(
        OpenSessions(cluster_->address(*current), &sessions));
    ingesting = true;
    for (size_t i = 0; i < feeds_.size() && ingesting; ++i) {
      ingesting = SendNext(i, *sessions[i]);
    }
  }
  ASSERT_TRUE(ingesting) << "no ingest with two etcd members of three";

  // Two of three down: no quorum. Nothing is acknowledged; collectors see
  // UNAVAILABLE (or, once the lease is gone, a replica that does not lead)
  // and keep what they have.
  cluster_->etcd().Kill(1);
  const uint64_t acked_before = feeds_[0].acked;
  absl::StatusOr<v1::IngestAck> refused;
  {
    std::vector<v1::OutboxEntry> entries;
    for (uint64_t seq = feeds_[0].applied + 1;
         seq <= feeds_[0].applied + kBatch; ++seq) {
      v1::OutboxEntry& entry = entries.emplace_back();
      entry.set_seq(seq);
      *entry.mutable_protocol() = feeds_[0].At(seq);
    }
    feeds_[0].sent = std::max(feeds_[0].sent, entries.back().seq());
    refused = sessions[0]->Send(entries);
  }
  ASSERT_FALSE(refused.ok()) << "acknowledged without an etcd quorum";
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("etcd"));
  EXPECT_EQ(feeds_[0].acked, acked_before);
  for (int i = 0; i < cluster_->size(); ++i) {
    absl::StatusOr<std::unique_ptr<IngestSession>> session =
        IngestSession::Open(cluster_->address(i), feeds_[1].collector,
                            feeds_[1].region, absl::Seconds(10));
    if (!session.ok()) continue;  // refused at once: fine
    std::vector<v1::OutboxEntry> entries;
    for (uint64_t seq = feeds_[1].applied + 1;
         seq <= feeds_[1].applied + kBatch; ++seq) {
      v1::OutboxEntry& entry = entries.emplace_back();
      entry.set_seq(seq);
      *entry.mutable_protocol() = feeds_[1].At(seq);
    }
    feeds_[1].sent = std::max(feeds_[1].sent, entries.back().seq());
    EXPECT_FALSE((*session)->Send(entries).ok())
        << "replica r" << i << " acknowledged without an etcd quorum";
  }
  sessions.clear();

  // Quorum back: ingest resumes, nothing lost or doubled.
  ASSERT_TRUE(cluster_->etcd().Restart(0).ok());
  ASSERT_TRUE(cluster_->etcd().Restart(1).ok());
  absl::StatusOr<int> resumed = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*resumed)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());
}

TEST_F(ReplicationTest, NewReplicaJoinsAndWipedReplicaRebuildsFromAPeer) {
  // Quick truncation, so the log soon no longer starts at round 1.
  ASSERT_NO_FATAL_FAILURE(StartCluster(
      {"--log_maintenance_interval_ms", "300", "--replica_timeout_ms", "3000"},
      /*start_replicas=*/2));
  absl::StatusOr<int> leader = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(leader.ok()) << leader.status();
  auto stream_a_while = [&](int leader_index) {
    std::vector<std::unique_ptr<IngestSession>> sessions;
    ASSERT_NO_FATAL_FAILURE(
        OpenSessions(cluster_->address(leader_index), &sessions));
    for (int round = 0; round < 5; ++round) {
      for (size_t i = 0; i < feeds_.size(); ++i) {
        ASSERT_TRUE(SendNext(i, *sessions[i]));
      }
    }
  };
  ASSERT_NO_FATAL_FAILURE(stream_a_while(*leader));
  absl::SleepFor(absl::Seconds(2));  // a few truncation passes

  // A third replica joins mid-night with an empty data directory.
  ASSERT_TRUE(cluster_->StartReplica(2).ok());
  EXPECT_THAT(cluster_->log(2), HasSubstr("copied a peer's store"));
  ASSERT_NO_FATAL_FAILURE(stream_a_while(*leader));
  ASSERT_TRUE(cluster_->WaitConverged(absl::Minutes(1)).ok());

  // A follower loses its disk; the night goes on without it (and the log
  // is truncated past it); it comes back empty and rebuilds from a peer.
  const int follower = *leader == 0 ? 1 : 0;
  cluster_->Kill(follower);
  cluster_->Wipe(follower);
  ASSERT_NO_FATAL_FAILURE(stream_a_while(*leader));
  absl::SleepFor(absl::Seconds(5));  // past the replica timeout
  ASSERT_NO_FATAL_FAILURE(stream_a_while(*leader));
  ASSERT_TRUE(cluster_->StartReplica(follower).ok());
  EXPECT_THAT(cluster_->log(follower), HasSubstr("copied a peer's store"));
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*leader)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());
}

// The own-scope allocation of `contest` on replica `i`.
absl::StatusOr<v1::SeatAllocation> AllocationOn(ReplicatedCluster& cluster,
                                                int i,
                                                const std::string& contest) {
  v1::GetResultsRequest request;
  request.set_contest_id(contest);
  v1::GetResultsResponse response;
  const grpc::Status status = cluster.stub(i).GetResults(
      testing::DeadlineContext(kCallTimeout).get(), request, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  if (response.results_size() != 1 || !response.results(0).has_allocation()) {
    return absl::NotFoundError(absl::StrCat("no allocation of ", contest));
  }
  return response.results(0).allocation();
}

// A district contest decided while stations of its are still to report
// keeps the revision at which it became decided across a failover: the
// promoted replica publishes the same decided_revision (it applied the same
// rounds and kept it with them), later rounds do not move it, and the
// killed replica, restarted, agrees.
TEST_F(ReplicationTest, DecidedRevisionSurvivesAFailover) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  absl::StatusOr<int> leader = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(leader.ok()) << leader.status();
  // The first district contest's protocols, in a seeded order.
  const std::string contest = districts_.front().contest_id();
  std::vector<v1::StationProtocol> sent;
  for (const v1::StationProtocol& protocol : districts_) {
    if (protocol.contest_id() == contest) sent.push_back(protocol);
  }
  std::shuffle(sent.begin(), sent.end(), rng_);
  const std::string region =
      index_->FindStation(sent.front().station_id())->region_id();
  const std::string collector = "decided-" + region;
  uint64_t next_seq = 1;
  size_t next = 0;
  auto send = [&](IngestSession& session, size_t count) {
    std::vector<v1::StationProtocol> batch(
        sent.begin() + static_cast<std::ptrdiff_t>(next),
        sent.begin() +
            static_cast<std::ptrdiff_t>(std::min(sent.size(), next + count)));
    absl::StatusOr<v1::IngestAck> ack =
        session.Send(testing::Entries(batch, next_seq));
    ASSERT_TRUE(ack.ok()) << ack.status();
    for (const v1::ProtocolResult& result : ack->results()) {
      ASSERT_EQ(result.outcome(), v1::OUTCOME_ACCEPTED)
          << result.ShortDebugString();
    }
    next += batch.size();
    next_seq += batch.size();
  };

  // Small rounds until the contest is decided.
  v1::SeatAllocation decided;
  {
    absl::StatusOr<std::unique_ptr<IngestSession>> session =
        IngestSession::Open(cluster_->address(*leader), collector, region,
                            absl::Minutes(2));
    ASSERT_TRUE(session.ok()) << session.status();
    while (next < sent.size()) {
      ASSERT_NO_FATAL_FAILURE(send(**session, 8));
      absl::StatusOr<v1::SeatAllocation> allocation =
          AllocationOn(*cluster_, *leader, contest);
      ASSERT_TRUE(allocation.ok()) << allocation.status();
      if (allocation->decided()) {
        decided = *allocation;
        break;
      }
    }
    ASSERT_TRUE(decided.decided()) << contest << " never decided";
    ASSERT_TRUE(decided.provisional())
        << contest << " decided only with its last station";
    ASSERT_GT(decided.decided_revision(), 0u);
    // A few more rounds on the same leader: still decided at that revision.
    ASSERT_NO_FATAL_FAILURE(send(**session, 4));
    ASSERT_NO_FATAL_FAILURE(send(**session, 4));
    ASSERT_TRUE((*session)->Close().ok());
  }
  ASSERT_TRUE(cluster_->WaitConverged(absl::Minutes(1)).ok());

  // Failover: the new leader publishes the same decided revision.
  const int old = *leader;
  cluster_->Kill(old);
  leader = cluster_->WaitForLeader(absl::Minutes(1), old);
  ASSERT_TRUE(leader.ok()) << leader.status();
  absl::StatusOr<v1::SeatAllocation> promoted =
      AllocationOn(*cluster_, *leader, contest);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_TRUE(promoted->decided());
  EXPECT_EQ(promoted->decided_revision(), decided.decided_revision());
  // The rest of the district on the new leader, then the old one back.
  {
    absl::StatusOr<std::unique_ptr<IngestSession>> session =
        IngestSession::Open(cluster_->address(*leader), collector, region,
                            absl::Minutes(2));
    ASSERT_TRUE(session.ok()) << session.status();
    ASSERT_EQ((*session)->welcome().last_applied_seq(), next_seq - 1);
    while (next < sent.size()) ASSERT_NO_FATAL_FAILURE(send(**session, 64));
    ASSERT_TRUE((*session)->Close().ok());
  }
  ASSERT_TRUE(cluster_->StartReplica(old).ok()) << cluster_->log(old);
  absl::StatusOr<uint64_t> revision = cluster_->WaitConverged(absl::Minutes(1));
  ASSERT_TRUE(revision.ok()) << revision.status();
  for (int i = 0; i < cluster_->size(); ++i) {
    if (!cluster_->running(i)) continue;
    absl::StatusOr<v1::SeatAllocation> final_allocation =
        AllocationOn(*cluster_, i, contest);
    ASSERT_TRUE(final_allocation.ok()) << final_allocation.status();
    EXPECT_FALSE(final_allocation->provisional()) << "replica r" << i;
    EXPECT_TRUE(final_allocation->decided()) << "replica r" << i;
    EXPECT_EQ(final_allocation->decided_revision(), decided.decided_revision())
        << "replica r" << i;
    EXPECT_EQ(final_allocation->decided_winner_choice_id(),
              decided.decided_winner_choice_id())
        << "replica r" << i;
  }
}

// A replica restarted on a store that already holds every round in the
// log, while the log is quiet (the night over, truncation not yet run),
// has no round to apply: it must still leave CATCHING_UP and report
// FOLLOWER (a deployment waits for that before it calls a replica healthy).
TEST_F(ReplicationTest, RestartedFollowerWithNothingToApplyFollows) {
  // No truncation during the test: the log keeps every round.
  ASSERT_NO_FATAL_FAILURE(
      StartCluster({"--log_maintenance_interval_ms", "600000"}));
  absl::StatusOr<int> leader = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(leader.ok()) << leader.status();
  {
    std::vector<std::unique_ptr<IngestSession>> sessions;
    ASSERT_NO_FATAL_FAILURE(
        OpenSessions(cluster_->address(*leader), &sessions));
    for (int round = 0; round < 5; ++round) {
      for (size_t i = 0; i < feeds_.size(); ++i) {
        ASSERT_TRUE(SendNext(i, *sessions[i]));
      }
    }
  }
  ASSERT_TRUE(cluster_->WaitConverged(absl::Minutes(1)).ok());
  const int follower = *leader == 0 ? 1 : 0;
  cluster_->Kill(follower);
  ASSERT_TRUE(cluster_->StartReplica(follower).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  v1::ReplicaStatus::Role role = v1::ReplicaStatus::CATCHING_UP;
  while (absl::Now() < deadline) {
    absl::StatusOr<v1::ReplicaStatus> status = cluster_->Status(follower);
    if (status.ok()) role = status->role();
    if (role == v1::ReplicaStatus::FOLLOWER) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(role, v1::ReplicaStatus::FOLLOWER)
      << "the restarted replica is " << v1::ReplicaStatus::Role_Name(role);
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*leader)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());
}

// GCC's AddressSanitizer runtime is a shared library that must come first
// in a process's library list: a replica started with LD_PRELOAD gets it
// ahead of the preloaded library (empty when this test is not built with
// it).
std::string SanitizerRuntimeFirst() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const size_t slash = line.find('/');
    if (slash != std::string::npos &&
        line.find("/libasan.so", slash) != std::string::npos) {
      return line.substr(slash) + ":";
    }
  }
  return "";
}

// Time is never used for safety: replicas whose wall clocks are hours apart
// and run at different rates (libfaketime) still count everything exactly
// once across leader kills and a pause. The monotonic clock stays true
// (FAKETIME_DONT_FAKE_MONOTONIC): it is what timers measure, as on a real
// machine whose wall clock is stepped.
TEST_F(ReplicationTest, SkewedClocksChangeNothing) {
  // libfaketime preloaded into the replica itself (the faketime command
  // would run it as a child, out of reach of the test's signals).
  constexpr char kLibFaketime[] =
      "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
  if (access(kLibFaketime, R_OK) != 0) {
    GTEST_SKIP() << "libfaketime is not installed (Debian package faketime)";
  }
  if (rpc::kThreadSanitizer) {
    // ThreadSanitizer's runtime is linked into the executable and
    // intercepts clock_gettime before the preloaded libfaketime can
    // initialise: the replica stops in "unexpected recursive calls to
    // clock_gettime()". Clock skew is not a threading question; the normal
    // and AddressSanitizer suites run this test.
    GTEST_SKIP() << "libfaketime cannot run under ThreadSanitizer";
  }
  ASSERT_NO_FATAL_FAILURE(StartCluster({}, /*start_replicas=*/0));
  auto skewed = [&](const std::string& clock) {
    return std::vector<std::string>{
        "/usr/bin/env",
        absl::StrCat("LD_PRELOAD=", SanitizerRuntimeFirst(), kLibFaketime),
        absl::StrCat("FAKETIME=", clock), "FAKETIME_DONT_FAKE_MONOTONIC=1"};
  };
  const std::vector<std::vector<std::string>> clocks = {
      skewed("+3h x0.8"), skewed("+7h x1.25"), skewed("+1d")};
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_TRUE(cluster_->StartReplica(i, clocks[i]).ok()) << cluster_->log(i);
  }
  int leader = -1;
  for (int cycle = 0; cycle < 3; ++cycle) {
    absl::StatusOr<int> elected =
        cluster_->WaitForLeader(absl::Minutes(1), leader);
    ASSERT_TRUE(elected.ok()) << elected.status();
    leader = *elected;
    std::vector<std::unique_ptr<IngestSession>> sessions;
    ASSERT_NO_FATAL_FAILURE(OpenSessions(cluster_->address(leader), &sessions));
    for (int round = 0; round < 3; ++round) {
      for (size_t i = 0; i < feeds_.size(); ++i) {
        ASSERT_TRUE(SendNext(i, *sessions[i]));
      }
    }
    sessions.clear();
    if (cycle == 1) {
      const absl::Status paused = cluster_->Pause(leader);
      ASSERT_TRUE(paused.ok()) << paused;
      ASSERT_TRUE(cluster_->WaitForLeader(absl::Minutes(1), leader).ok());
      cluster_->Resume(leader);
    } else {
      cluster_->Kill(leader);
      ASSERT_TRUE(cluster_->StartReplica(leader, clocks[leader]).ok());
    }
  }
  absl::StatusOr<int> elected = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(elected.ok()) << elected.status();
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*elected)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());
}

// A network namespace with a veth link to the host (172.30.N.1 on the
// host, 172.30.N.2 inside), for a replica on a "machine" of its own whose
// traffic to etcd can be dropped silently.
class Namespace {
 public:
  static absl::StatusOr<std::unique_ptr<Namespace>> Create() {
    auto ns = std::unique_ptr<Namespace>(new Namespace());
    const int id = getpid() % 10000;
    ns->name_ = absl::StrCat("tally-ha-", getpid());
    ns->host_if_ = absl::StrCat("tha", id, "a");
    ns->ns_if_ = absl::StrCat("tha", id, "b");
    const int subnet = getpid() % 250 + 1;
    ns->host_ip_ = absl::StrCat("172.30.", subnet, ".1");
    ns->ns_ip_ = absl::StrCat("172.30.", subnet, ".2");
    const std::vector<std::vector<std::string>> steps = {
        {"netns", "add", ns->name_},
        {"link", "add", ns->host_if_, "type", "veth", "peer", "name",
         ns->ns_if_},
        {"link", "set", ns->ns_if_, "netns", ns->name_},
        {"addr", "add", ns->host_ip_ + "/30", "dev", ns->host_if_},
        {"link", "set", ns->host_if_, "up"},
        {"netns", "exec", ns->name_, "ip", "addr", "add", ns->ns_ip_ + "/30",
         "dev", ns->ns_if_},
        {"netns", "exec", ns->name_, "ip", "link", "set", ns->ns_if_, "up"},
        {"netns", "exec", ns->name_, "ip", "link", "set", "lo", "up"}};
    for (const std::vector<std::string>& step : steps) {
      absl::StatusOr<testing::CommandResult> done =
          testing::RunCommand("/usr/sbin/ip", step, absl::Seconds(30));
      if (!done.ok()) return done.status();
      if (done->exit_code != 0) {
        return absl::UnavailableError(
            absl::StrCat("ip ", absl::StrJoin(step, " "), ": ", done->output));
      }
    }
    return ns;
  }
  ~Namespace() {
    testing::RunCommand("/usr/sbin/ip", {"link", "del", host_if_},
                        absl::Seconds(30))
        .IgnoreError();
    testing::RunCommand("/usr/sbin/ip", {"netns", "del", name_},
                        absl::Seconds(30))
        .IgnoreError();
  }
  std::vector<std::string> Exec() const {
    return {"/usr/sbin/ip", "netns", "exec", name_};
  }
  // Drops (silently, no reset) every packet from inside to these ports of
  // the host, or lets them through again.
  absl::Status Block(const std::vector<int>& ports, bool block) {
    std::vector<std::string> args = {"netns",
                                     "exec",
                                     name_,
                                     "iptables",
                                     block ? "-A" : "-D",
                                     "OUTPUT",
                                     "-d",
                                     host_ip_,
                                     "-p",
                                     "tcp",
                                     "-m",
                                     "multiport",
                                     "--dports",
                                     absl::StrJoin(ports, ","),
                                     "-j",
                                     "DROP"};
    absl::StatusOr<testing::CommandResult> done =
        testing::RunCommand("/usr/sbin/ip", args, absl::Seconds(30));
    if (!done.ok()) return done.status();
    if (done->exit_code != 0) return absl::UnavailableError(done->output);
    return absl::OkStatus();
  }
  const std::string& host_ip() const { return host_ip_; }
  const std::string& ns_ip() const { return ns_ip_; }

 private:
  Namespace() = default;
  std::string name_, host_if_, ns_if_, host_ip_, ns_ip_;
};

TEST_F(ReplicationTest, LeaderCutOffFromEtcdStopsAndIsReplaced) {
  if (geteuid() != 0 || access("/usr/sbin/iptables", X_OK) != 0) {
    GTEST_SKIP() << "needs root (network namespaces) and iptables";
  }
  absl::StatusOr<std::unique_ptr<Namespace>> ns = Namespace::Create();
  if (!ns.ok()) GTEST_SKIP() << "no network namespaces here: " << ns.status();
  testing::ReplicatedClusterOptions options;
  options.aggregator_binary = AGGREGATOR_PATH;
  options.dir = dir_;
  options.start_replicas = 0;
  options.etcd_listen_host = "0.0.0.0";  // reachable from the namespace
  absl::StatusOr<std::unique_ptr<ReplicatedCluster>> cluster =
      ReplicatedCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  cluster_ = *std::move(cluster);
  std::vector<std::string> endpoints;
  std::vector<int> etcd_ports;
  for (int m = 0; m < cluster_->etcd().size(); ++m) {
    etcd_ports.push_back(cluster_->etcd().client_port(m));
    endpoints.push_back(
        absl::StrCat((*ns)->host_ip(), ":", cluster_->etcd().client_port(m)));
  }
  absl::StatusOr<int> port = process::FreeLoopbackPort();
  ASSERT_TRUE(port.ok());
  // Replica 0 in the namespace starts first and leads.
  cluster_->PlaceReplica(0, absl::StrCat((*ns)->ns_ip(), ":", *port),
                         absl::StrJoin(endpoints, ","), (*ns)->Exec());
  ASSERT_TRUE(cluster_->StartReplica(0).ok()) << cluster_->log(0);
  absl::StatusOr<int> leader = cluster_->WaitForLeader(absl::Minutes(1));
  ASSERT_TRUE(leader.ok()) << leader.status();
  ASSERT_EQ(*leader, 0);
  ASSERT_TRUE(cluster_->StartReplica(1).ok());
  ASSERT_TRUE(cluster_->StartReplica(2).ok());

  std::vector<std::unique_ptr<IngestSession>> sessions;
  ASSERT_NO_FATAL_FAILURE(OpenSessions(cluster_->address(0), &sessions));
  for (size_t i = 0; i < feeds_.size(); ++i) {
    ASSERT_TRUE(SendNext(i, *sessions[i]));
  }
  // Cut off from etcd; the collectors (this test) still reach it.
  ASSERT_TRUE((*ns)->Block(etcd_ports, true).ok());
  const absl::Time cut = absl::Now();
  bool acknowledging = true;
  absl::Time last_ack = cut;
  while (acknowledging && absl::Now() - cut < absl::Minutes(2)) {
    for (size_t i = 0; i < feeds_.size() && acknowledging; ++i) {
      acknowledging = SendNext(i, *sessions[i]);
      if (acknowledging) last_ack = absl::Now();
    }
  }
  ASSERT_FALSE(acknowledging)
      << "a leader cut off from etcd kept acknowledging";
  std::printf(
      "cut off from etcd: last acknowledgement %.2f s after the cut, "
      "streams ended %.2f s after it\n",
      absl::ToDoubleSeconds(last_ack - cut),
      absl::ToDoubleSeconds(absl::Now() - cut));
  sessions.clear();
  absl::StatusOr<int> next = cluster_->WaitForLeader(absl::Minutes(1), 0);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_NO_FATAL_FAILURE(OpenSessions(cluster_->address(*next), &sessions));
  for (size_t i = 0; i < feeds_.size(); ++i) {
    ASSERT_TRUE(SendNext(i, *sessions[i]));
  }
  sessions.clear();
  // The link heals: the old leader catches up as a follower.
  ASSERT_TRUE((*ns)->Block(etcd_ports, false).ok());
  ASSERT_NO_FATAL_FAILURE(Complete(cluster_->address(*next)));
  ASSERT_NO_FATAL_FAILURE(ExpectReplicasExact());
  absl::StatusOr<v1::ReplicaStatus> status = cluster_->Status(0);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->role(), v1::ReplicaStatus::FOLLOWER);
  cluster_.reset();  // its processes run in the namespace
}

}  // namespace
}  // namespace tally
