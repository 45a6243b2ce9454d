// Feed.Watch on the real tally-aggregator binary over loopback: resuming
// by revision, compaction, slow watchers, filters, progress notifications
// and `tallyctl watch --json`.
#include <signal.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/domain/proto_json.h"
#include "services/rpc/channel.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/feed.grpc.pb.h"
#include "tests/support/feed_client.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using testing::Feeder;
using testing::FromRevision;
using testing::kMessageTimeout;
using testing::NextEvent;
using testing::ReadSnapshot;
using testing::SnapshotRead;
using testing::WatchClient;

constexpr char kList[] = "mazhilis-list";
// The reference election with plausible true protocols.
const testing::ReferenceElection& Ref() { return testing::Reference(11); }

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Ref().status.ok()) << Ref().status; }

  void TearDown() override {
    if (server_ == nullptr) return;
    // Open streams and connections would hold the graceful stop for its
    // whole grace period.
    feeder_.reset();
    channel_.reset();
    testing::ExpectCleanStop(*server_);
    testing::RemoveTempDirUnlessFailed(data_dir_);
  }

  void StartAggregator(std::vector<std::string> extra = {}) {
    data_dir_ = testing::MakeTempDir("watch");
    std::vector<std::string> args = {"--data_dir", data_dir_, "--listen",
                                     "127.0.0.1:0", "--insecure"};
    args.insert(args.end(), extra.begin(), extra.end());
    absl::StatusOr<testing::Server> server = testing::StartServer(
        AGGREGATOR_PATH, args, data_dir_ + ".log", absl::Minutes(2));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::make_unique<testing::Server>(*std::move(server));
    channel_ = rpc::MakeChannel(server_->address);
    feeder_ = std::make_unique<Feeder>(server_->address, Ref().index.get());
  }

  // The n-th list protocol in definition order.
  static const v1::StationProtocol& ListProtocol(size_t n) {
    return Ref().truth.at(n);  // the list contest comes first
  }

  // Sends the next `count` list protocols, one commit each; the revisions
  // must follow each other from `first`.
  void SendList(size_t count, uint64_t first) {
    for (size_t i = 0; i < count; ++i) {
      const v1::StationProtocol& protocol = ListProtocol(next_protocol_++);
      ASSERT_EQ(protocol.contest_id(), kList);
      absl::StatusOr<uint64_t> revision = feeder_->SendOne(protocol);
      ASSERT_TRUE(revision.ok()) << revision.status();
      ASSERT_EQ(*revision, first + i);
      sent_[*revision] = protocol;
    }
  }

  // An event counts exactly the protocol sent at its revision.
  void ExpectEventOf(const v1::Event& event) {
    auto it = sent_.find(event.revision());
    ASSERT_NE(it, sent_.end()) << "no commit at " << event.revision();
    ASSERT_EQ(event.stations_size(), 1);
    EXPECT_EQ(event.stations(0).station_id(), it->second.station_id());
    EXPECT_EQ(event.stations(0).contest_id(), it->second.contest_id());
    EXPECT_EQ(event.stations(0).version(), it->second.version());
    // National, region and district totals of the list contest.
    EXPECT_EQ(event.totals_size(), 3);
    EXPECT_EQ(event.allocations_size(), 1);
    EXPECT_GT(event.epoch(), 0u);
  }

  std::string data_dir_;
  std::unique_ptr<testing::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Feeder> feeder_;
  size_t next_protocol_ = 0;
  std::map<uint64_t, v1::StationProtocol> sent_;
};

TEST_F(WatchTest, ResumeFromAMidRevisionDeliversExactlyTheMissedEvents) {
  StartAggregator();
  v1::WatchRequest request = FromRevision(0);
  request.set_include_stations(true);
  std::map<uint64_t, v1::Event> first_seen;
  {
    WatchClient first(channel_, request);
    absl::StatusOr<SnapshotRead> snapshot = ReadSnapshot(first);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    EXPECT_EQ(snapshot->revision, 0u);
    ASSERT_NO_FATAL_FAILURE(SendList(10, 1));
    for (uint64_t revision = 1; revision <= 10; ++revision) {
      absl::StatusOr<v1::Event> event = NextEvent(first);
      ASSERT_TRUE(event.ok()) << event.status();
      ASSERT_EQ(event->revision(), revision);
      ExpectEventOf(*event);
      first_seen[revision] = *event;
    }
  }  // the first watcher goes away
  ASSERT_NO_FATAL_FAILURE(SendList(10, 11));

  // Resume after revision 5: 6..20 from the log, then live.
  request.set_from_revision(5);
  WatchClient second(channel_, request);
  for (uint64_t revision = 6; revision <= 20; ++revision) {
    absl::StatusOr<v1::Event> event = NextEvent(second);
    ASSERT_TRUE(event.ok()) << event.status();
    ASSERT_EQ(event->revision(), revision);
    ExpectEventOf(*event);
    if (revision <= 10) {
      // The replayed event is the one published live.
      EXPECT_TRUE(MessageDifferencer::Equals(*event, first_seen[revision]))
          << revision;
    }
  }
  ASSERT_NO_FATAL_FAILURE(SendList(3, 21));
  for (uint64_t revision = 21; revision <= 23; ++revision) {
    absl::StatusOr<v1::Event> event = NextEvent(second);
    ASSERT_TRUE(event.ok()) << event.status();
    ASSERT_EQ(event->revision(), revision);
    ExpectEventOf(*event);
  }

  // A revision from the future is refused.
  WatchClient ahead(channel_, FromRevision(1000));
  absl::StatusOr<grpc::Status> end = ahead.WaitEnd(kMessageTimeout);
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(end->error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(end->error_message(), ::testing::HasSubstr("1000"));
}

TEST_F(WatchTest, ResumeBeforeTheRetainedLogIsCompacted) {
  constexpr uint64_t kRetained = 16;
  constexpr uint64_t kCommits = 200;
  StartAggregator({"--retained_events", absl::StrCat(kRetained)});
  ASSERT_NO_FATAL_FAILURE(SendList(kCommits, 1));

  uint64_t compact_revision = 0;
  {
    WatchClient old(channel_, FromRevision(1));
    absl::StatusOr<v1::WatchResponse> response = old.Next(kMessageTimeout);
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_TRUE(response->has_compacted()) << response->ShortDebugString();
    compact_revision = response->compacted().compact_revision();
    absl::StatusOr<grpc::Status> end = old.WaitEnd(kMessageTimeout);
    ASSERT_TRUE(end.ok()) << end.status();
    EXPECT_TRUE(end->ok()) << end->error_message();
    EXPECT_EQ(old.Next(absl::ZeroDuration()).status().code(),
              absl::StatusCode::kOutOfRange);
  }
  // At least the retained events are kept, and trimming did happen.
  EXPECT_LE(compact_revision, kCommits - kRetained);
  EXPECT_GE(compact_revision, kCommits - 2 * kRetained);

  // From the compact revision itself the log still serves every event.
  {
    WatchClient resumed(channel_, FromRevision(compact_revision));
    for (uint64_t revision = compact_revision + 1; revision <= kCommits;
         ++revision) {
      absl::StatusOr<v1::Event> event = NextEvent(resumed);
      ASSERT_TRUE(event.ok()) << event.status();
      ASSERT_EQ(event->revision(), revision);
    }
  }
  // From 0: a snapshot of the current state.
  WatchClient fresh(channel_, FromRevision(0));
  absl::StatusOr<SnapshotRead> snapshot = ReadSnapshot(fresh);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->revision, kCommits);
  bool found_national = false;
  for (const v1::Totals& totals : snapshot->totals) {
    if (totals.contest_id() == kList &&
        totals.scope().kind() == v1::SCOPE_KIND_NATIONAL) {
      found_national = true;
      EXPECT_EQ(totals.stations_reported(), kCommits);
      EXPECT_EQ(totals.revision(), kCommits);
    }
  }
  EXPECT_TRUE(found_national);
}

TEST_F(WatchTest, StalledWatcherDelaysNobodyAndIsResynchronised) {
  constexpr uint64_t kCommits = 300;
  StartAggregator({"--watch_queue_limit", "8"});
  // The stalled client accepts little in its transport buffers: no
  // bandwidth probing, a small stream window.
  rpc::ChannelOptions small_window;
  small_window.extra_int_args = {{GRPC_ARG_HTTP2_BDP_PROBE, 0},
                                 {GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8192}};
  WatchClient stalled(rpc::MakeChannel(server_->address, small_window),
                      FromRevision(0));
  absl::StatusOr<SnapshotRead> stalled_snapshot = ReadSnapshot(stalled);
  ASSERT_TRUE(stalled_snapshot.ok()) << stalled_snapshot.status();
  stalled.Pause();

  WatchClient healthy(channel_, FromRevision(0));
  absl::StatusOr<SnapshotRead> snapshot = ReadSnapshot(healthy);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();

  // Every batch is acknowledged while the stalled watcher reads nothing.
  ASSERT_NO_FATAL_FAILURE(SendList(kCommits, 1));
  for (uint64_t revision = 1; revision <= kCommits; ++revision) {
    absl::StatusOr<v1::Event> event = NextEvent(healthy);
    ASSERT_TRUE(event.ok()) << event.status();
    ASSERT_EQ(event->revision(), revision);
  }

  // Reading again: what was already in flight, then a Resync, a fresh
  // snapshot at the current revision, then live events.
  stalled.Resume();
  uint64_t last_before_resync = 0;
  bool resynced = false;
  while (!resynced) {
    absl::StatusOr<v1::WatchResponse> response = stalled.Next(kMessageTimeout);
    ASSERT_TRUE(response.ok()) << response.status();
    // Idle progress before any Resync: the watcher was never dropped.
    ASSERT_FALSE(response->has_progress())
        << "caught up to event " << last_before_resync
        << " without a Resync: " << response->ShortDebugString();
    if (response->has_resync()) {
      EXPECT_THAT(response->resync().reason(), ::testing::HasSubstr("8"));
      resynced = true;
      break;
    }
    ASSERT_TRUE(response->has_event()) << response->ShortDebugString();
    ASSERT_GT(response->event().revision(), last_before_resync);
    last_before_resync = response->event().revision();
  }
  // It fell behind well before the end.
  EXPECT_LT(last_before_resync, kCommits);
  absl::StatusOr<SnapshotRead> fresh = ReadSnapshot(stalled);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->revision, kCommits);
  ASSERT_NO_FATAL_FAILURE(SendList(3, kCommits + 1));
  for (uint64_t revision = kCommits + 1; revision <= kCommits + 3; ++revision) {
    absl::StatusOr<v1::Event> event = NextEvent(stalled);
    ASSERT_TRUE(event.ok()) << event.status();
    ASSERT_EQ(event->revision(), revision);
    absl::StatusOr<v1::Event> same = NextEvent(healthy);
    ASSERT_TRUE(same.ok()) << same.status();
    ASSERT_EQ(same->revision(), revision);
  }
}

TEST_F(WatchTest, FiltersDeliverOnlyMatchingTotals) {
  StartAggregator();
  const ElectionIndex& index = *Ref().index;
  // A station of district d01 (Astana, contest smd-01) and one of d03
  // (Almaty, contest smd-03).
  const v1::PollingStation* astana = nullptr;
  const v1::PollingStation* almaty = nullptr;
  for (const v1::PollingStation& station : index.definition().stations()) {
    if (astana == nullptr && station.district_id() == "d01") astana = &station;
    if (almaty == nullptr && station.district_id() == "d03") almaty = &station;
  }
  ASSERT_NE(astana, nullptr);
  ASSERT_NE(almaty, nullptr);
  ASSERT_EQ(astana->region_id(), "astana");
  auto truth_of = [](const std::string& contest, uint32_t station) {
    for (const v1::StationProtocol& protocol : Ref().truth) {
      if (protocol.contest_id() == contest &&
          protocol.station_id() == station) {
        return protocol;
      }
    }
    ADD_FAILURE() << "no truth for " << contest << "/" << station;
    return v1::StationProtocol();
  };

  v1::WatchRequest by_contest = FromRevision(0);
  by_contest.add_contest_ids("smd-01");
  by_contest.set_progress_interval_ms(100);
  v1::WatchRequest by_scope = FromRevision(0);
  v1::Scope* region = by_scope.add_scopes();
  region->set_kind(v1::SCOPE_KIND_REGION);
  region->set_id("astana");
  by_scope.set_progress_interval_ms(100);
  WatchClient contest_watch(channel_, by_contest);
  WatchClient scope_watch(channel_, by_scope);

  absl::StatusOr<SnapshotRead> contest_snapshot = ReadSnapshot(contest_watch);
  ASSERT_TRUE(contest_snapshot.ok()) << contest_snapshot.status();
  ASSERT_EQ(contest_snapshot->totals.size(), 1u);  // its district only
  EXPECT_EQ(contest_snapshot->totals[0].contest_id(), "smd-01");
  ASSERT_EQ(contest_snapshot->allocations.size(), 1u);
  EXPECT_EQ(contest_snapshot->allocations[0].contest_id(), "smd-01");

  absl::StatusOr<SnapshotRead> scope_snapshot = ReadSnapshot(scope_watch);
  ASSERT_TRUE(scope_snapshot.ok()) << scope_snapshot.status();
  // Only the national list keeps region totals; no allocation is regional.
  ASSERT_EQ(scope_snapshot->totals.size(), 1u);
  EXPECT_EQ(scope_snapshot->totals[0].contest_id(), kList);
  EXPECT_EQ(scope_snapshot->totals[0].scope().kind(), v1::SCOPE_KIND_REGION);
  EXPECT_EQ(scope_snapshot->totals[0].scope().id(), "astana");
  EXPECT_TRUE(scope_snapshot->allocations.empty());

  // Revision 1: list in Astana (scope watcher); 2: smd-01 in Astana
  // (contest watcher); 3: list in Almaty and 4: smd-03 (neither).
  for (const v1::StationProtocol& protocol :
       {truth_of(kList, astana->id()), truth_of("smd-01", astana->id()),
        truth_of(kList, almaty->id()), truth_of("smd-03", almaty->id())}) {
    ASSERT_TRUE(feeder_->SendOne(protocol).ok());
  }

  // Each watcher gets its one event, then progress at revision 4 shows that
  // nothing else is coming.
  auto events_until_caught_up = [](WatchClient& watch) {
    std::vector<v1::Event> events;
    while (true) {
      absl::StatusOr<v1::WatchResponse> response = watch.Next(kMessageTimeout);
      EXPECT_TRUE(response.ok()) << response.status();
      if (!response.ok()) return events;
      if (response->has_event()) {
        events.push_back(response->event());
      } else if (response->has_progress()) {
        if (response->progress().revision() >= 4) return events;
      } else {
        ADD_FAILURE() << response->ShortDebugString();
        return events;
      }
    }
  };
  const std::vector<v1::Event> contest_events =
      events_until_caught_up(contest_watch);
  ASSERT_EQ(contest_events.size(), 1u);
  EXPECT_EQ(contest_events[0].revision(), 2u);
  ASSERT_EQ(contest_events[0].totals_size(), 1);
  EXPECT_EQ(contest_events[0].totals(0).contest_id(), "smd-01");
  EXPECT_EQ(contest_events[0].totals(0).stations_reported(), 1u);
  ASSERT_EQ(contest_events[0].allocations_size(), 1);
  EXPECT_EQ(contest_events[0].allocations(0).contest_id(), "smd-01");
  EXPECT_EQ(contest_events[0].stations_size(), 0);  // not asked for

  const std::vector<v1::Event> scope_events =
      events_until_caught_up(scope_watch);
  ASSERT_EQ(scope_events.size(), 1u);
  EXPECT_EQ(scope_events[0].revision(), 1u);
  ASSERT_EQ(scope_events[0].totals_size(), 1);
  EXPECT_EQ(scope_events[0].totals(0).contest_id(), kList);
  EXPECT_EQ(scope_events[0].totals(0).scope().kind(), v1::SCOPE_KIND_REGION);
  EXPECT_EQ(scope_events[0].totals(0).scope().id(), "astana");
  EXPECT_EQ(scope_events[0].totals(0).stations_reported(), 1u);
  EXPECT_EQ(scope_events[0].allocations_size(), 0);
}

TEST_F(WatchTest, TallyctlWatchJsonPrintsRevisions) {
  StartAggregator();
  const std::string log_dir = testing::MakeTempDir("tallyctl-watch");
  const std::string log = log_dir + "/out";
  absl::StatusOr<testing::Process> tallyctl =
      testing::Process::Start(TALLYCTL_PATH,
                              {"watch", "--insecure", "--aggregator",
                               server_->address, "--json", "--max_events", "3"},
                              log);
  ASSERT_TRUE(tallyctl.ok()) << tallyctl.status();
  // Live events are only sent after the snapshot: wait for its end.
  const absl::Time deadline = absl::Now() + absl::Minutes(1);
  while (!absl::StrContains(tallyctl->log(), "snapshot_complete") &&
         !absl::StrContains(tallyctl->log(), "snapshotComplete")) {
    ASSERT_TRUE(tallyctl->running()) << tallyctl->log();
    ASSERT_LT(absl::Now(), deadline) << tallyctl->log();
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_NO_FATAL_FAILURE(SendList(3, 1));
  absl::StatusOr<int> exit_code = tallyctl->Wait(absl::Minutes(1));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << "\n" << tallyctl->log();
  EXPECT_EQ(*exit_code, 0) << tallyctl->log();

  std::vector<uint64_t> event_revisions;
  int snapshots = 0;
  int json_lines = 0;
  for (absl::string_view line : absl::StrSplit(tallyctl->log(), '\n')) {
    if (!absl::StartsWith(line, "{")) continue;
    ++json_lines;
    v1::WatchResponse response;
    absl::Status parsed = ParseJson(std::string(line), &response);
    ASSERT_TRUE(parsed.ok()) << parsed << ": " << line;
    if (response.has_snapshot()) {
      ++snapshots;
      EXPECT_EQ(response.snapshot().revision(), 0u);
    }
    if (response.has_event()) {
      event_revisions.push_back(response.event().revision());
    }
  }
  EXPECT_GE(snapshots, 1);
  EXPECT_GE(json_lines, snapshots + 4);  // snapshot(s), complete, 3 events
  EXPECT_EQ(event_revisions, (std::vector<uint64_t>{1, 2, 3}));
  testing::RemoveTempDirUnlessFailed(log_dir);
}

TEST_F(WatchTest, ProgressNotificationsArriveWhileIdle) {
  StartAggregator({"--progress_interval_ms", "100"});
  ASSERT_NO_FATAL_FAILURE(SendList(2, 1));
  WatchClient watch(channel_, FromRevision(0));  // server default interval
  absl::StatusOr<SnapshotRead> snapshot = ReadSnapshot(watch);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->revision, 2u);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<v1::WatchResponse> response = watch.Next(kMessageTimeout);
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_TRUE(response->has_progress()) << response->ShortDebugString();
    EXPECT_EQ(response->progress().revision(), 2u);
    EXPECT_GT(response->progress().server_time().seconds(), 0);
  }
  // A commit interrupts the quiet; then progress carries the new revision.
  ASSERT_NO_FATAL_FAILURE(SendList(1, 3));
  absl::StatusOr<v1::Event> event = NextEvent(watch);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->revision(), 3u);
  absl::StatusOr<v1::WatchResponse> response = watch.Next(kMessageTimeout);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_TRUE(response->has_progress()) << response->ShortDebugString();
  EXPECT_EQ(response->progress().revision(), 3u);
}

}  // namespace
}  // namespace tally
