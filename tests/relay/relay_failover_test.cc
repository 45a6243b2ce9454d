// Acceptance tests of tally-relay with real processes: a relay killed and
// replaced, an aggregator restarted under a relay, resuming across tiers
// (relay <-> aggregator), compaction, filters, and health before the first
// upstream snapshot.
#include <signal.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/rpc/channel.h"
#include "tests/relay/relay_fixture.h"

namespace tally::relaytest {
namespace {

using ::google::protobuf::util::MessageDifferencer;

// Opens a Watch from `from` on `address`, retrying while the server answers
// UNAVAILABLE (a relay still taking its first snapshot); the first message
// is returned with the open client.
struct Opened {
  std::unique_ptr<WatchClient> client;
  v1::WatchResponse first;
};
absl::StatusOr<Opened> OpenWatch(const std::string& address,
                                 const v1::WatchRequest& request) {
  const absl::Time deadline = absl::Now() + absl::Minutes(1);
  while (true) {
    Opened opened;
    opened.client =
        std::make_unique<WatchClient>(rpc::MakeChannel(address), request);
    absl::StatusOr<v1::WatchResponse> first =
        opened.client->Next(kMessageTimeout);
    if (first.ok()) {
      opened.first = *std::move(first);
      return opened;
    }
    if (absl::Now() > deadline ||
        !absl::StrContains(first.status().message(), "status 14 ")) {
      return first.status();
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// Reads events from->to (inclusive, in order, nothing else but progress)
// and checks each against the commit that made it.
#define EXPECT_EVENTS(client, from, to)                              \
  for (uint64_t revision = (from); revision <= (to); ++revision) {   \
    absl::StatusOr<v1::Event> event = NextEvent(client);             \
    ASSERT_TRUE(event.ok()) << event.status() << " at " << revision; \
    ASSERT_EQ(event->revision(), revision);                          \
    ASSERT_NO_FATAL_FAILURE(ExpectEventOf(*event));                  \
  }

TEST_F(RelayTest, KilledRelayIsReplacedAndTheWatcherResumesWithoutAGap) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  testing::Server* first = StartRelay();
  ASSERT_NE(first, nullptr);
  ASSERT_NO_FATAL_FAILURE(AwaitServing(first->address));

  uint64_t last = 0;
  {
    WatchClient watch(rpc::MakeChannel(first->address),
                      FromRevision(0, /*include_stations=*/true));
    absl::StatusOr<testing::SnapshotRead> snapshot = ReadSnapshot(watch);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    ASSERT_EQ(snapshot->revision, 0u);
    ASSERT_NO_FATAL_FAILURE(SendList(10, 1));
    EXPECT_EVENTS(watch, 1u, 10u);
    last = 10;
    // More commits while the watcher is mid-stream, then the relay dies.
    ASSERT_NO_FATAL_FAILURE(SendList(5, 11));
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<v1::Event> event = NextEvent(watch);
      ASSERT_TRUE(event.ok()) << event.status();
      ASSERT_EQ(event->revision(), last + 1);
      last = event->revision();
    }
    first->process.Signal(SIGKILL);
    ASSERT_TRUE(first->process.Wait(absl::Minutes(1)).ok());
    // Whatever was already on its way is still the next revision in order.
    while (true) {
      absl::StatusOr<v1::WatchResponse> r = watch.Next(kMessageTimeout);
      if (!r.ok()) {
        ASSERT_EQ(r.status().code(), absl::StatusCode::kOutOfRange)
            << r.status();
        break;
      }
      if (!r->has_event()) continue;
      ASSERT_EQ(r->event().revision(), last + 1);
      last = r->event().revision();
    }
  }
  ASSERT_GE(last, 12u);
  ASSERT_NO_FATAL_FAILURE(SendList(10, 16));  // no relay at all now

  testing::Server* second = StartRelay();
  ASSERT_NE(second, nullptr);
  v1::WatchRequest resume = FromRevision(last, /*include_stations=*/true);
  absl::StatusOr<Opened> opened = OpenWatch(second->address, resume);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(opened->first.has_event()) << opened->first.ShortDebugString();
  ASSERT_EQ(opened->first.event().revision(), last + 1);
  ASSERT_NO_FATAL_FAILURE(ExpectEventOf(opened->first.event()));
  EXPECT_EVENTS(*opened->client, last + 2, 25u);
  ASSERT_NO_FATAL_FAILURE(SendList(5, 26));
  EXPECT_EVENTS(*opened->client, 26u, 30u);
}

TEST_F(RelayTest, AggregatorRestartsUnderTheRelayAndWatchersMissNothing) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  // The restarted aggregator must come back on the same address.
  const std::string fixed = aggregator_address_;
  testing::Server* relay = StartRelay();
  ASSERT_NE(relay, nullptr);
  ASSERT_NO_FATAL_FAILURE(AwaitServing(relay->address));

  std::vector<std::unique_ptr<WatchClient>> watchers;
  for (int i = 0; i < 3; ++i) {
    watchers.push_back(std::make_unique<WatchClient>(
        rpc::MakeChannel(relay->address),
        FromRevision(0, /*include_stations=*/true)));
    absl::StatusOr<testing::SnapshotRead> snapshot =
        ReadSnapshot(*watchers.back());
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    ASSERT_EQ(snapshot->revision, 0u);
  }
  ASSERT_NO_FATAL_FAILURE(SendList(10, 1));
  for (auto& w : watchers) EXPECT_EVENTS(*w, 1u, 10u);

  // A graceful stop, then a crash: the same relay streams carry on.
  uint64_t next = 11;
  for (int signal : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(absl::StrCat("signal ", signal));
    ASSERT_NO_FATAL_FAILURE(SendList(5, next));
    ASSERT_NO_FATAL_FAILURE(StopAggregator(signal));
    ASSERT_NO_FATAL_FAILURE(StartAggregator(fixed));
    ASSERT_EQ(aggregator_address_, fixed);
    ASSERT_NO_FATAL_FAILURE(SendList(10, next + 5));
    for (auto& w : watchers) EXPECT_EVENTS(*w, next, next + 14);
    next += 15;
  }
  EXPECT_TRUE(relay->process.running());
  // It did lose its upstream and come back (twice), and logged it.
  EXPECT_THAT(relay->process.log(),
              ::testing::HasSubstr("level=warning service=tally-relay "
                                   "msg=\"upstream stream ended, "
                                   "reconnecting\""));
}

TEST_F(RelayTest, RelayOfARelayResnapshotsWhenItsUpstreamSaysCompacted) {
  constexpr uint64_t kRetained = 16;
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  // The middle relay keeps little history; it must come back on its port.
  const std::vector<std::string> small = {"--retained_events",
                                          absl::StrCat(kRetained)};
  testing::Server* middle = StartRelay(small);
  ASSERT_NE(middle, nullptr);
  const std::string middle_address = middle->address;
  ASSERT_NO_FATAL_FAILURE(AwaitServing(middle_address));
  testing::Server* edge = StartRelay({}, middle_address);
  ASSERT_NE(edge, nullptr);
  ASSERT_NO_FATAL_FAILURE(AwaitServing(edge->address));

  auto edge_channel = rpc::MakeChannel(edge->address);
  WatchClient watch(edge_channel, FromRevision(0, true));
  absl::StatusOr<testing::SnapshotRead> snapshot = ReadSnapshot(watch);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_NO_FATAL_FAILURE(SendList(5, 1));
  EXPECT_EVENTS(watch, 1u, 5u);

  // The middle relay dies; far more commits than it keeps go by.
  middle->process.Signal(SIGKILL);
  ASSERT_TRUE(middle->process.Wait(absl::Minutes(1)).ok());
  ASSERT_NO_FATAL_FAILURE(SendList(60, 6));
  std::vector<std::string> again = small;
  again.insert(again.end(), {"--listen", middle_address});
  ASSERT_NE(StartRelay(again, aggregator_address_), nullptr);

  // The edge resumes from 5, hears compacted, takes a fresh snapshot and
  // ends its streams so that its watchers re-snapshot too.
  absl::StatusOr<grpc::Status> end = watch.WaitEnd(absl::Minutes(1));
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_TRUE(end->ok()) << end->error_message();
  absl::StatusOr<Opened> resumed =
      OpenWatch(edge->address, FromRevision(5, true));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE(resumed->first.has_compacted())
      << resumed->first.ShortDebugString();
  EXPECT_GE(resumed->first.compacted().compact_revision(), 65 - kRetained);
  WatchClient fresh(edge_channel, FromRevision(0, true));
  snapshot = ReadSnapshot(fresh);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->revision, 65u);
  ASSERT_NO_FATAL_FAILURE(SendList(3, 66));
  EXPECT_EVENTS(fresh, 66u, 68u);
}

TEST_F(RelayTest, ResumeAcrossTiersCompactionAndFilters) {
  constexpr uint64_t kRetained = 16;
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  testing::Server* relay =
      StartRelay({"--retained_events", absl::StrCat(kRetained)});
  ASSERT_NE(relay, nullptr);
  ASSERT_NO_FATAL_FAILURE(AwaitServing(relay->address));
  auto relay_channel = rpc::MakeChannel(relay->address);
  auto aggregator_channel = rpc::MakeChannel(aggregator_address_);
  ASSERT_NO_FATAL_FAILURE(SendList(20, 1));

  // Relay up to 10, then the aggregator from 10: exactly 11..20.
  std::vector<v1::Event> from_relay;
  {
    WatchClient watch(relay_channel, FromRevision(4, true));
    for (uint64_t revision = 5; revision <= 10; ++revision) {
      absl::StatusOr<v1::Event> event = NextEvent(watch);
      ASSERT_TRUE(event.ok()) << event.status();
      ASSERT_EQ(event->revision(), revision);
      from_relay.push_back(*event);
    }
  }
  {
    WatchClient watch(aggregator_channel, FromRevision(10, true));
    EXPECT_EVENTS(watch, 11u, 20u);
  }
  // The aggregator up to 20, then the relay from 20 (while commits keep
  // coming): exactly 21..25. The relay's events equal the aggregator's.
  {
    WatchClient watch(aggregator_channel, FromRevision(4, true));
    for (const v1::Event& relayed : from_relay) {
      absl::StatusOr<v1::Event> event = NextEvent(watch);
      ASSERT_TRUE(event.ok()) << event.status();
      EXPECT_TRUE(MessageDifferencer::Equals(*event, relayed))
          << event->ShortDebugString() << "\n"
          << relayed.ShortDebugString();
    }
  }
  ASSERT_NO_FATAL_FAILURE(SendList(5, 21));
  {
    WatchClient watch(relay_channel, FromRevision(20, true));
    EXPECT_EVENTS(watch, 21u, 25u);
  }
  // A revision neither tier has reached: refused like the aggregator does.
  {
    WatchClient watch(relay_channel, FromRevision(1000));
    absl::StatusOr<grpc::Status> end = watch.WaitEnd(kMessageTimeout);
    ASSERT_TRUE(end.ok()) << end.status();
    EXPECT_EQ(end->error_code(), grpc::StatusCode::OUT_OF_RANGE);
    EXPECT_THAT(end->error_message(), ::testing::HasSubstr("1000"));
  }

  // Past the relay's ring: compacted, with the oldest resumable revision.
  ASSERT_NO_FATAL_FAILURE(SendList(40, 26));
  constexpr uint64_t kLast = 65;
  uint64_t compact_revision = 0;
  {
    // Wait until the relay has the last commit.
    WatchClient probe(relay_channel, FromRevision(kLast - 1));
    absl::StatusOr<v1::Event> last_event = NextEvent(probe);
    ASSERT_TRUE(last_event.ok()) << last_event.status();
    ASSERT_EQ(last_event->revision(), kLast);
    WatchClient watch(relay_channel, FromRevision(5));
    absl::StatusOr<v1::WatchResponse> r = watch.Next(kMessageTimeout);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->has_compacted()) << r->ShortDebugString();
    compact_revision = r->compacted().compact_revision();
    absl::StatusOr<grpc::Status> end = watch.WaitEnd(kMessageTimeout);
    ASSERT_TRUE(end.ok()) << end.status();
    EXPECT_TRUE(end->ok()) << end->error_message();
  }
  EXPECT_EQ(compact_revision, kLast - kRetained);
  {
    // The aggregator keeps more: the same request replays from 6.
    WatchClient watch(aggregator_channel, FromRevision(5, true));
    EXPECT_EVENTS(watch, 6u, 8u);
  }
  {
    WatchClient watch(relay_channel, FromRevision(compact_revision, true));
    EXPECT_EVENTS(watch, compact_revision + 1, kLast);
  }

  // Filters: the same filtered request on both tiers gives the same
  // events; only the chosen region's totals.
  const std::string region =
      Ref()
          .index->FindStation(ListProtocol(kLast - 1).station_id())
          ->region_id();
  v1::WatchRequest filtered = FromRevision(compact_revision);
  v1::Scope* scope = filtered.add_scopes();
  scope->set_kind(v1::SCOPE_KIND_REGION);
  scope->set_id(region);
  filtered.add_contest_ids("mazhilis-list");
  filtered.set_progress_interval_ms(100);
  auto collect = [&](const std::shared_ptr<grpc::Channel>& channel) {
    std::vector<v1::Event> events;
    WatchClient watch(channel, filtered);
    while (true) {
      absl::StatusOr<v1::WatchResponse> r = watch.Next(kMessageTimeout);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) return events;
      if (r->has_progress() && r->progress().revision() >= kLast) {
        return events;
      }
      if (r->has_event()) events.push_back(r->event());
    }
  };
  const std::vector<v1::Event> relay_events = collect(relay_channel);
  const std::vector<v1::Event> aggregator_events = collect(aggregator_channel);
  ASSERT_FALSE(relay_events.empty());
  ASSERT_EQ(relay_events.size(), aggregator_events.size());
  for (size_t i = 0; i < relay_events.size(); ++i) {
    EXPECT_TRUE(
        MessageDifferencer::Equals(relay_events[i], aggregator_events[i]))
        << i;
    EXPECT_EQ(relay_events[i].stations_size(), 0);     // not asked for
    EXPECT_EQ(relay_events[i].allocations_size(), 0);  // none is regional
    for (const v1::Totals& t : relay_events[i].totals()) {
      EXPECT_EQ(t.scope().kind(), v1::SCOPE_KIND_REGION);
      EXPECT_EQ(t.scope().id(), region);
    }
  }
  // A filtered snapshot: one region of the list contest.
  v1::WatchRequest snapshot_request = filtered;
  snapshot_request.set_from_revision(0);
  WatchClient snap(relay_channel, snapshot_request);
  absl::StatusOr<v1::WatchResponse> first = snap.Next(kMessageTimeout);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_snapshot());
  ASSERT_EQ(first->snapshot().totals_size(), 1);
  EXPECT_EQ(first->snapshot().totals(0).scope().id(), region);
}

TEST_F(RelayTest, NotServingUntilTheUpstreamSnapshotArrives) {
  // Learn a free port for the aggregator, then free it again.
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  const std::string fixed = aggregator_address_;
  ASSERT_NO_FATAL_FAILURE(StopAggregator(SIGTERM));

  testing::Server* relay = StartRelay({}, fixed);
  ASSERT_NE(relay, nullptr);
  absl::StatusOr<int> health = HealthStatus(relay->address);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 2);  // NOT_SERVING
  {
    WatchClient watch(rpc::MakeChannel(relay->address), FromRevision(0));
    absl::StatusOr<grpc::Status> end = watch.WaitEnd(kMessageTimeout);
    ASSERT_TRUE(end.ok()) << end.status();
    EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  ASSERT_NO_FATAL_FAILURE(StartAggregator(fixed));
  ASSERT_NO_FATAL_FAILURE(AwaitServing(relay->address));
  ASSERT_NO_FATAL_FAILURE(SendList(3, 1));
  WatchClient watch(rpc::MakeChannel(relay->address), FromRevision(0, true));
  absl::StatusOr<testing::SnapshotRead> snapshot = ReadSnapshot(watch);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_LE(snapshot->revision, 3u);
  EXPECT_EVENTS(watch, snapshot->revision + 1, 3u);
}

}  // namespace
}  // namespace tally::relaytest
