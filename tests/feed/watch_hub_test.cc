// WatchHub over a real gRPC server on loopback, with real client stubs.
// The event log and the state are in memory; the test plays the committer
// (mutate the state, append to the log, then Publish).
#include "services/feed/watch_hub.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/rpc/channel.h"
#include "services/rpc/server_builder.h"

namespace tally::feed {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using Messages = std::vector<v1::WatchResponse>;

// Upper bound for any wait; reached only when a test fails.
constexpr absl::Duration kWait = absl::Seconds(15);

v1::Scope National() {
  v1::Scope s;
  s.set_kind(v1::SCOPE_KIND_NATIONAL);
  return s;
}

v1::Scope Region(const std::string& id) {
  v1::Scope s;
  s.set_kind(v1::SCOPE_KIND_REGION);
  s.set_id(id);
  return s;
}

// Totals with `choices` choices; more choices make bigger messages.
v1::Totals MakeTotals(const std::string& contest, const v1::Scope& scope,
                      uint64_t votes, int choices = 2) {
  v1::Totals t;
  t.set_contest_id(contest);
  *t.mutable_scope() = scope;
  for (int i = 0; i < choices; ++i) {
    v1::ChoiceTotal* c = t.add_choices();
    c->set_choice_id(absl::StrCat("choice-", i));
    c->set_votes(votes + i);
  }
  t.set_ballots_cast(votes);
  return t;
}

v1::SeatAllocation MakeAllocation(const std::string& contest,
                                  const v1::Scope& scope, uint32_t seats) {
  v1::SeatAllocation a;
  a.set_contest_id(contest);
  *a.mutable_scope() = scope;
  a.set_seats(seats);
  return a;
}

v1::StationUpdate MakeStation(const std::string& contest, uint32_t station) {
  v1::StationUpdate s;
  s.set_contest_id(contest);
  s.set_station_id(station);
  s.set_version(1);
  return s;
}

std::string TotalsKey(const v1::Totals& t) {
  return absl::StrCat(t.contest_id(), "|", t.scope().kind(), "|",
                      t.scope().id());
}

// The aggregator's state, reduced to what the feed publishes.
class MemoryState {
 public:
  std::shared_ptr<const v1::Event> Commit(
      std::vector<v1::Totals> totals,
      std::vector<v1::SeatAllocation> allocations = {},
      std::vector<v1::StationUpdate> stations = {}) {
    absl::MutexLock lock(&mu_);
    auto event = std::make_shared<v1::Event>();
    event->set_revision(++revision_);
    event->set_epoch(1);
    event->mutable_committed_at()->set_seconds(1679200000 + revision_);
    for (v1::Totals& t : totals) {
      t.set_revision(revision_);
      totals_[TotalsKey(t)] = t;
      *event->add_totals() = t;
    }
    for (v1::SeatAllocation& a : allocations) {
      a.set_revision(revision_);
      allocations_[a.contest_id()] = a;
      *event->add_allocations() = a;
    }
    for (const v1::StationUpdate& s : stations) *event->add_stations() = s;
    progress_.set_protocols_counted(revision_);
    *event->mutable_progress() = progress_;
    // A stand-in for the log's signed head of the revision.
    event->mutable_signed_head()->mutable_head()->set_revision(revision_);
    return event;
  }

  SnapshotView Snapshot() const {
    absl::MutexLock lock(&mu_);
    SnapshotView view;
    view.revision = revision_;
    for (const auto& [key, t] : totals_) view.totals.push_back(t);
    for (const auto& [key, a] : allocations_) view.allocations.push_back(a);
    view.progress = progress_;
    view.signed_head.mutable_head()->set_revision(revision_);
    return view;
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, v1::Totals> totals_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::SeatAllocation> allocations_ ABSL_GUARDED_BY(mu_);
  v1::Progress progress_ ABSL_GUARDED_BY(mu_);
};

// The stored event log: a vector with a movable oldest revision. Reads can
// be paused to hold a replay in the middle.
class MemoryLog : public EventSource {
 public:
  void Append(std::shared_ptr<const v1::Event> event) {
    absl::MutexLock lock(&mu_);
    last_ = event->revision();
    events_.push_back(std::move(event));
  }

  // Forgets every event below `oldest`.
  void CompactTo(uint64_t oldest) {
    absl::MutexLock lock(&mu_);
    while (!events_.empty() && events_.front()->revision() < oldest) {
      events_.erase(events_.begin());
    }
  }

  uint64_t oldest_revision() const override {
    absl::MutexLock lock(&mu_);
    return events_.empty() ? last_ + 1 : events_.front()->revision();
  }

  bool Read(uint64_t from, uint64_t to,
            const std::function<bool(const v1::Event&)>& fn) override {
    std::vector<std::shared_ptr<const v1::Event>> range;
    {
      absl::MutexLock lock(&mu_);
      ++reads_started_;
      // Bounded so that a failing test cannot hang here.
      mu_.AwaitWithTimeout(
          absl::Condition(
              +[](bool* paused) { return !*paused; }, &paused_),
          kWait);
      for (const auto& e : events_) {
        if (e->revision() >= from && e->revision() <= to) range.push_back(e);
      }
    }
    size_t delivered = 0;
    for (const auto& e : range) {
      ++delivered;
      if (!fn(*e)) break;
    }
    absl::MutexLock lock(&mu_);
    max_delivered_ = std::max(max_delivered_, delivered);
    return true;
  }

  void Pause() {
    absl::MutexLock lock(&mu_);
    paused_ = true;
  }
  void Resume() {
    absl::MutexLock lock(&mu_);
    paused_ = false;
  }
  int reads_started() const {
    absl::MutexLock lock(&mu_);
    return reads_started_;
  }
  size_t max_delivered_per_read() const {
    absl::MutexLock lock(&mu_);
    return max_delivered_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<const v1::Event>> events_ ABSL_GUARDED_BY(mu_);
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  int reads_started_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_delivered_ ABSL_GUARDED_BY(mu_) = 0;
};

// One Watch call read on its own thread. A stalled stream opens the call
// but reads nothing until StartReading.
class WatchStream {
 public:
  WatchStream(v1::Feed::Stub* stub, const v1::WatchRequest& request,
              bool read_now = true) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    reader_ = stub->Watch(&context_, request);
    thread_ = std::thread([this] { Run(); });
    if (read_now) StartReading();
  }

  ~WatchStream() {
    {
      absl::MutexLock lock(&mu_);
      go_ = true;
    }
    context_.TryCancel();
    thread_.join();
  }

  void StartReading() {
    absl::MutexLock lock(&mu_);
    go_ = true;
  }

  void Cancel() { context_.TryCancel(); }

  // Waits until `pred` holds for the messages so far; false on timeout or
  // when the stream ended without it holding.
  bool WaitFor(const std::function<bool(const Messages&)>& pred,
               absl::Duration timeout = kWait) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::MutexLock lock(&mu_);
    while (!pred(messages_)) {
      if (done_ || cv_.WaitWithDeadline(&mu_, deadline)) return pred(messages_);
    }
    return true;
  }

  // Waits for the end of the stream.
  bool WaitForEnd(absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }

  Messages messages() const {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  grpc::Status status() const {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  void Run() {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&go_));
    }
    v1::WatchResponse response;
    while (reader_->Read(&response)) {
      absl::MutexLock lock(&mu_);
      messages_.push_back(response);
      cv_.SignalAll();
    }
    grpc::Status status = reader_->Finish();
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
    done_ = true;
    cv_.SignalAll();
  }

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool go_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  Messages messages_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// Revisions of the event messages, in order.
std::vector<uint64_t> EventRevisions(const Messages& messages) {
  std::vector<uint64_t> out;
  for (const v1::WatchResponse& m : messages) {
    if (m.has_event()) out.push_back(m.event().revision());
  }
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t r = first; r <= last; ++r) out.push_back(r);
  return out;
}

auto HasEvent(uint64_t revision) {
  return [revision](const Messages& m) {
    const std::vector<uint64_t> revs = EventRevisions(m);
    return !revs.empty() && revs.back() >= revision;
  };
}

auto HasSnapshotComplete() {
  return [](const Messages& messages) {
    for (const v1::WatchResponse& m : messages) {
      if (m.has_snapshot_complete()) return true;
    }
    return false;
  };
}

int Count(const Messages& messages, v1::WatchResponse::KindCase kind) {
  int n = 0;
  for (const v1::WatchResponse& m : messages) n += m.kind_case() == kind;
  return n;
}

bool WaitUntil(const std::function<bool()>& pred,
               absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!pred()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

v1::WatchRequest From(uint64_t revision) {
  v1::WatchRequest request;
  request.set_from_revision(revision);
  return request;
}

class WatchHubTest : public ::testing::Test {
 protected:
  // Progress notifications off unless a test asks for them, so that the
  // message sequences are exact.
  static WatchHubOptions QuietOptions() {
    WatchHubOptions options;
    options.default_progress_interval = absl::Minutes(10);
    return options;
  }

  void StartHub(WatchHubOptions options = QuietOptions()) {
    hub_ = std::make_unique<WatchHub>(
        &log_, [this] { return state_.Snapshot(); }, 0, options);
    absl::StatusOr<rpc::StartedServer> started =
        rpc::StartServer({.listen = "127.0.0.1:0", .services = {hub_.get()}});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(started->server);
    port_ = started->port;
    stub_ = NewStub();
  }

  void TearDown() override {
    if (hub_ != nullptr) hub_->Shutdown();
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::seconds(5));
    }
    server_.reset();
    hub_.reset();
  }

  // A stub on its own connection, with extra channel arguments.
  std::unique_ptr<v1::Feed::Stub> NewStub(
      std::vector<std::pair<std::string, int>> extra_args = {}) {
    return v1::Feed::NewStub(rpc::MakeChannel(
        absl::StrCat("127.0.0.1:", port_),
        {.own_connection = true, .extra_int_args = std::move(extra_args)}));
  }

  // The committer: state first, then the durable log, then the feed.
  std::shared_ptr<const v1::Event> Commit(
      std::vector<v1::Totals> totals,
      std::vector<v1::SeatAllocation> allocations = {},
      std::vector<v1::StationUpdate> stations = {}) {
    auto event = state_.Commit(std::move(totals), std::move(allocations),
                               std::move(stations));
    log_.Append(event);
    hub_->Publish(event);
    return event;
  }

  // A commit that changes contest c1 nationally to `votes`.
  std::shared_ptr<const v1::Event> CommitVotes(uint64_t votes,
                                               int choices = 2) {
    return Commit({MakeTotals("c1", National(), votes, choices)});
  }

  MemoryLog log_;
  MemoryState state_;
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<v1::Feed::Stub> stub_;
};

TEST_F(WatchHubTest, SnapshotInChunksThenLiveEventsInOrder) {
  WatchHubOptions options = QuietOptions();
  options.snapshot_chunk = 2;
  StartHub(options);
  Commit({MakeTotals("c1", National(), 10), MakeTotals("c1", Region("r1"), 4),
          MakeTotals("c1", Region("r2"), 6)},
         {MakeAllocation("c1", National(), 69)});
  Commit({MakeTotals("c2", National(), 7), MakeTotals("c2", Region("r1"), 3)});

  WatchStream stream(stub_.get(), From(0));
  ASSERT_TRUE(stream.WaitFor(HasSnapshotComplete()));
  for (uint64_t votes = 11; votes <= 20; ++votes) CommitVotes(votes);
  ASSERT_TRUE(stream.WaitFor(HasEvent(12)));

  const Messages messages = stream.messages();
  // Five totals in chunks of two: three Snapshot messages, then complete.
  ASSERT_GE(messages.size(), 4u);
  std::map<std::string, uint64_t> votes_by_key;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(messages[i].has_snapshot()) << i;
    const v1::Snapshot& s = messages[i].snapshot();
    EXPECT_EQ(s.revision(), 2u);
    EXPECT_LE(s.totals_size(), 2);
    EXPECT_EQ(s.allocations_size(), i == 0 ? 1 : 0);
    if (i == 0) {
      EXPECT_EQ(s.progress().protocols_counted(), 2u);
    }
    for (const v1::Totals& t : s.totals()) {
      votes_by_key[TotalsKey(t)] = t.ballots_cast();
    }
  }
  EXPECT_EQ(votes_by_key.size(), 5u);
  EXPECT_EQ(votes_by_key[TotalsKey(MakeTotals("c1", Region("r2"), 0))], 6u);
  ASSERT_TRUE(messages[3].has_snapshot_complete());
  EXPECT_EQ(messages[3].snapshot_complete().revision(), 2u);
  EXPECT_THAT(EventRevisions(messages), ElementsAreArray(Range(3, 12)));
  const v1::Event& last = messages.back().event();
  ASSERT_EQ(last.totals_size(), 1);
  EXPECT_EQ(last.totals(0).ballots_cast(), 20u);
  EXPECT_EQ(last.progress().protocols_counted(), 12u);
  EXPECT_EQ(hub_->published_revision(), 12u);
  EXPECT_EQ(hub_->watcher_count(), 1u);
}

TEST_F(WatchHubTest, LiveEventsCoveredBySnapshotAreSkipped) {
  StartHub();
  CommitVotes(1);
  // Committed and stored but not yet published when the snapshot is taken.
  auto pending = state_.Commit({MakeTotals("c1", National(), 2)});
  log_.Append(pending);

  WatchStream stream(stub_.get(), From(0));
  ASSERT_TRUE(stream.WaitFor(HasSnapshotComplete()));
  hub_->Publish(pending);
  CommitVotes(3);
  ASSERT_TRUE(stream.WaitFor(HasEvent(3)));

  const Messages messages = stream.messages();
  ASSERT_TRUE(messages[0].has_snapshot());
  EXPECT_EQ(messages[0].snapshot().revision(), 2u);
  EXPECT_THAT(EventRevisions(messages), ElementsAreArray({3u}));
}

TEST_F(WatchHubTest, ResumeDeliversMissedEventsThenLiveWithoutGapOrDuplicate) {
  WatchHubOptions options = QuietOptions();
  options.queue_limit = 8;
  StartHub(options);
  for (uint64_t votes = 1; votes <= 30; ++votes) CommitVotes(votes);

  log_.Pause();
  WatchStream stream(stub_.get(), From(5));
  ASSERT_TRUE(WaitUntil([&] { return log_.reads_started() >= 1; }));
  // Published while the replay is held in its first read.
  for (uint64_t votes = 31; votes <= 35; ++votes) CommitVotes(votes);
  log_.Resume();
  ASSERT_TRUE(stream.WaitFor(HasEvent(35)));
  CommitVotes(36);
  ASSERT_TRUE(stream.WaitFor(HasEvent(36)));

  const Messages messages = stream.messages();
  EXPECT_THAT(EventRevisions(messages), ElementsAreArray(Range(6, 36)));
  EXPECT_EQ(Count(messages, v1::WatchResponse::kEvent),
            static_cast<int>(messages.size()));
  // Replay follows the queue: 25 stored events need several bounded reads.
  EXPECT_LE(log_.max_delivered_per_read(), 8u);
  EXPECT_GE(log_.reads_started(), 3);
  EXPECT_EQ(hub_->resync_count(), 0u);
}

TEST_F(WatchHubTest, ResumeFromCurrentRevisionIsLiveOnly) {
  StartHub();
  for (uint64_t votes = 1; votes <= 4; ++votes) CommitVotes(votes);
  WatchStream stream(stub_.get(), From(4));
  ASSERT_TRUE(WaitUntil([&] { return hub_->watcher_count() == 1; }));
  CommitVotes(5);
  ASSERT_TRUE(stream.WaitFor(HasEvent(5)));
  EXPECT_THAT(EventRevisions(stream.messages()), ElementsAreArray({5u}));
}

TEST_F(WatchHubTest, CompactedBelowTheRetainedLog) {
  StartHub();
  for (uint64_t votes = 1; votes <= 10; ++votes) CommitVotes(votes);
  log_.CompactTo(6);  // revisions 6..10 remain

  WatchStream too_old(stub_.get(), From(4));
  ASSERT_TRUE(too_old.WaitForEnd());
  EXPECT_TRUE(too_old.status().ok()) << too_old.status().error_message();
  const Messages messages = too_old.messages();
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_TRUE(messages[0].has_compacted());
  EXPECT_EQ(messages[0].compacted().compact_revision(), 5u);

  // The oldest resumable revision still works.
  WatchStream oldest(stub_.get(), From(5));
  ASSERT_TRUE(oldest.WaitFor(HasEvent(10)));
  EXPECT_THAT(EventRevisions(oldest.messages()),
              ElementsAreArray(Range(6, 10)));
}

TEST_F(WatchHubTest, CompactedWhileReplaying) {
  StartHub();
  for (uint64_t votes = 1; votes <= 30; ++votes) CommitVotes(votes);
  log_.Pause();
  WatchStream stream(stub_.get(), From(2));
  ASSERT_TRUE(WaitUntil([&] { return log_.reads_started() >= 1; }));
  log_.CompactTo(20);
  log_.Resume();
  ASSERT_TRUE(stream.WaitForEnd());
  EXPECT_TRUE(stream.status().ok()) << stream.status().error_message();
  const Messages messages = stream.messages();
  ASSERT_FALSE(messages.empty());
  ASSERT_TRUE(messages.back().has_compacted());
  EXPECT_EQ(messages.back().compacted().compact_revision(), 19u);
  EXPECT_TRUE(WaitUntil([&] { return hub_->watcher_count() == 0; }));
}

TEST_F(WatchHubTest, OutOfRangeAheadOfTheCurrentRevision) {
  StartHub();
  for (uint64_t votes = 1; votes <= 3; ++votes) CommitVotes(votes);
  WatchStream stream(stub_.get(), From(7));
  ASSERT_TRUE(stream.WaitForEnd());
  EXPECT_EQ(stream.status().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(stream.status().error_message(), HasSubstr("7"));
  EXPECT_THAT(stream.status().error_message(), HasSubstr("3"));
  EXPECT_TRUE(stream.messages().empty());
  EXPECT_EQ(hub_->watcher_count(), 0u);
}

TEST_F(WatchHubTest, ContestAndScopeFilters) {
  StartHub();
  Commit({MakeTotals("c1", National(), 1), MakeTotals("c2", National(), 1)});

  v1::WatchRequest contest_c2 = From(0);
  contest_c2.add_contest_ids("c2");
  v1::WatchRequest region_r1 = From(0);
  *region_r1.add_scopes() = Region("r1");
  v1::WatchRequest c1_national = From(0);
  c1_national.add_contest_ids("c1");
  v1::Scope unspecified;  // means national
  *c1_national.add_scopes() = unspecified;

  WatchStream c2(stub_.get(), contest_c2);
  WatchStream r1(stub_.get(), region_r1);
  WatchStream c1n(stub_.get(), c1_national);
  for (WatchStream* s : {&c2, &r1, &c1n}) {
    ASSERT_TRUE(s->WaitFor(HasSnapshotComplete()));
  }

  // 2: c1 national and region r1, with the national allocation.
  Commit({MakeTotals("c1", National(), 10), MakeTotals("c1", Region("r1"), 4)},
         {MakeAllocation("c1", National(), 69)});
  // 3: c2 only.
  Commit({MakeTotals("c2", National(), 20)});
  // 4: c1 region r1 only.
  Commit({MakeTotals("c1", Region("r1"), 5)});
  // 5: everything.
  Commit({MakeTotals("c1", National(), 11), MakeTotals("c1", Region("r1"), 6),
          MakeTotals("c2", National(), 21)});
  for (WatchStream* s : {&c2, &r1, &c1n}) ASSERT_TRUE(s->WaitFor(HasEvent(5)));

  // Whatever a watcher selects, each event and snapshot message carries
  // the signed head of its whole revision.
  for (WatchStream* s : {&c2, &r1, &c1n}) {
    for (const v1::WatchResponse& m : s->messages()) {
      if (m.has_event()) {
        EXPECT_EQ(m.event().signed_head().head().revision(),
                  m.event().revision());
      }
      if (m.has_snapshot()) {
        EXPECT_EQ(m.snapshot().signed_head().head().revision(),
                  m.snapshot().revision());
      }
    }
  }

  const Messages c2_messages = c2.messages();
  EXPECT_THAT(EventRevisions(c2_messages), ElementsAreArray({3u, 5u}));
  ASSERT_TRUE(c2_messages[0].has_snapshot());
  ASSERT_EQ(c2_messages[0].snapshot().totals_size(), 1);
  EXPECT_EQ(c2_messages[0].snapshot().totals(0).contest_id(), "c2");
  for (const v1::WatchResponse& m : c2_messages) {
    if (!m.has_event()) continue;
    ASSERT_EQ(m.event().totals_size(), 1);
    EXPECT_EQ(m.event().totals(0).contest_id(), "c2");
    EXPECT_EQ(m.event().allocations_size(), 0);
  }

  const Messages r1_messages = r1.messages();
  EXPECT_THAT(EventRevisions(r1_messages), ElementsAreArray({2u, 4u, 5u}));
  ASSERT_TRUE(r1_messages[0].has_snapshot());
  EXPECT_EQ(r1_messages[0].snapshot().totals_size(), 0);
  for (const v1::WatchResponse& m : r1_messages) {
    if (!m.has_event()) continue;
    ASSERT_EQ(m.event().totals_size(), 1);
    EXPECT_EQ(m.event().totals(0).scope().id(), "r1");
    EXPECT_EQ(m.event().allocations_size(), 0);
  }

  const Messages c1n_messages = c1n.messages();
  EXPECT_THAT(EventRevisions(c1n_messages), ElementsAreArray({2u, 5u}));
  for (const v1::WatchResponse& m : c1n_messages) {
    if (!m.has_event()) continue;
    ASSERT_EQ(m.event().totals_size(), 1);
    EXPECT_EQ(m.event().totals(0).contest_id(), "c1");
    EXPECT_EQ(m.event().totals(0).scope().kind(), v1::SCOPE_KIND_NATIONAL);
    EXPECT_EQ(m.event().allocations_size(), m.event().revision() == 2 ? 1 : 0);
  }

  // Replay applies the same filters.
  WatchStream replay(stub_.get(), [] {
    v1::WatchRequest r = From(1);
    r.add_contest_ids("c2");
    return r;
  }());
  ASSERT_TRUE(WaitUntil([&] { return hub_->watcher_count() == 4; }));
  Commit({MakeTotals("c2", National(), 22)});
  ASSERT_TRUE(replay.WaitFor(HasEvent(6)));
  EXPECT_THAT(EventRevisions(replay.messages()),
              ElementsAreArray({3u, 5u, 6u}));
}

TEST_F(WatchHubTest, StationUpdatesOnlyWhenRequested) {
  StartHub();
  v1::WatchRequest with_stations = From(0);
  with_stations.set_include_stations(true);
  WatchStream stations(stub_.get(), with_stations);
  WatchStream plain(stub_.get(), From(0));
  ASSERT_TRUE(stations.WaitFor(HasSnapshotComplete()));
  ASSERT_TRUE(plain.WaitFor(HasSnapshotComplete()));

  Commit({MakeTotals("c1", National(), 5)}, {}, {MakeStation("c1", 17)});
  Commit({}, {}, {MakeStation("c1", 18)});  // stations only
  Commit({MakeTotals("c1", National(), 6)});
  ASSERT_TRUE(stations.WaitFor(HasEvent(3)));
  ASSERT_TRUE(plain.WaitFor(HasEvent(3)));

  const Messages with = stations.messages();
  EXPECT_THAT(EventRevisions(with), ElementsAreArray({1u, 2u, 3u}));
  std::vector<uint32_t> station_ids;
  for (const v1::WatchResponse& m : with) {
    for (const v1::StationUpdate& s : m.event().stations()) {
      station_ids.push_back(s.station_id());
    }
  }
  EXPECT_THAT(station_ids, ElementsAreArray({17u, 18u}));

  const Messages without = plain.messages();
  EXPECT_THAT(EventRevisions(without), ElementsAreArray({1u, 3u}));
  for (const v1::WatchResponse& m : without) {
    EXPECT_EQ(m.event().stations_size(), 0);
  }
}

TEST_F(WatchHubTest, ProgressNotificationsWhileIdle) {
  StartHub();
  CommitVotes(1);
  v1::WatchRequest all = From(0);
  all.set_progress_interval_ms(100);
  v1::WatchRequest other_contest = all;
  other_contest.add_contest_ids("c2");
  WatchStream stream(stub_.get(), all);
  WatchStream filtered(stub_.get(), other_contest);

  auto progress_at = [](uint64_t revision) {
    return [revision](const Messages& messages) {
      for (const v1::WatchResponse& m : messages) {
        if (m.has_progress() && m.progress().revision() == revision) {
          return true;
        }
      }
      return false;
    };
  };
  ASSERT_TRUE(stream.WaitFor(progress_at(1)));
  CommitVotes(2);
  ASSERT_TRUE(stream.WaitFor(progress_at(2)));
  // Nothing of contest c1 reaches the filtered watcher, but its progress
  // notifications follow the revision.
  ASSERT_TRUE(filtered.WaitFor(progress_at(2)));
  EXPECT_TRUE(EventRevisions(filtered.messages()).empty());

  const Messages messages = stream.messages();
  EXPECT_THAT(EventRevisions(messages), ElementsAreArray({2u}));
  // Progress never runs ahead of the events sent before it.
  uint64_t seen = 0;
  for (const v1::WatchResponse& m : messages) {
    if (m.has_snapshot_complete()) seen = m.snapshot_complete().revision();
    if (m.has_event()) seen = m.event().revision();
    if (m.has_progress()) {
      EXPECT_EQ(m.progress().revision(), seen);
      EXPECT_GT(m.progress().server_time().seconds(), 1600000000);
    }
  }
}

TEST_F(WatchHubTest, StalledWatcherIsResynchronisedWithoutSlowingOthers) {
  WatchHubOptions options = QuietOptions();
  options.queue_limit = 8;
  StartHub(options);
  CommitVotes(1);

  // A client that opens the stream and reads nothing: small receive window
  // so that the server's writes stall soon.
  std::unique_ptr<v1::Feed::Stub> stalled_stub =
      NewStub({{GRPC_ARG_HTTP2_BDP_PROBE, 0},
               {GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024}});
  WatchStream stalled(stalled_stub.get(), From(0), /*read_now=*/false);
  WatchStream healthy(stub_.get(), From(0));
  ASSERT_TRUE(healthy.WaitFor(HasSnapshotComplete()));
  ASSERT_TRUE(WaitUntil([&] { return hub_->watcher_count() == 2; }));

  // Big events (~4 KB each), paced by the healthy watcher only: it must
  // never fall more than a few events behind, so it never overflows.
  constexpr uint64_t kLast = 401;
  for (uint64_t revision = 2; revision <= kLast; ++revision) {
    CommitVotes(revision * 10, /*choices=*/200);
    if (revision > 4) {
      ASSERT_TRUE(healthy.WaitFor(HasEvent(revision - 4)));
    }
  }
  ASSERT_TRUE(healthy.WaitFor(HasEvent(kLast)));
  const Messages healthy_messages = healthy.messages();
  EXPECT_THAT(EventRevisions(healthy_messages),
              ElementsAreArray(Range(2, kLast)));
  EXPECT_EQ(Count(healthy_messages, v1::WatchResponse::kResync), 0);
  EXPECT_GE(hub_->resync_count(), 1u);

  // Reading again: what was queued, Resync, a fresh snapshot, then live.
  stalled.StartReading();
  auto resynced = [](const Messages& messages) {
    bool resync = false;
    for (const v1::WatchResponse& m : messages) {
      if (m.has_resync()) resync = true;
      if (resync && m.has_snapshot_complete()) return true;
    }
    return false;
  };
  ASSERT_TRUE(stalled.WaitFor(resynced));
  CommitVotes(9999);
  ASSERT_TRUE(stalled.WaitFor(HasEvent(kLast + 1)));

  const Messages messages = stalled.messages();
  size_t last_resync = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].has_resync()) last_resync = i;
  }
  ASSERT_TRUE(messages[last_resync].has_resync());
  EXPECT_THAT(messages[last_resync].resync().reason(), HasSubstr("queue"));
  // Before the resync: events in increasing order.
  const std::vector<uint64_t> before = EventRevisions(
      Messages(messages.begin(), messages.begin() + last_resync));
  for (size_t k = 1; k < before.size(); ++k) {
    EXPECT_LT(before[k - 1], before[k]);
  }
  // After it: snapshot at the last revision, then the one live event.
  size_t i = last_resync + 1;
  ASSERT_LT(i, messages.size());
  ASSERT_TRUE(messages[i].has_snapshot());
  EXPECT_EQ(messages[i].snapshot().revision(), kLast);
  ASSERT_EQ(messages[i].snapshot().totals_size(), 1);
  EXPECT_EQ(messages[i].snapshot().totals(0).ballots_cast(), kLast * 10);
  ++i;
  ASSERT_LT(i, messages.size());
  ASSERT_TRUE(messages[i].has_snapshot_complete());
  EXPECT_EQ(messages[i].snapshot_complete().revision(), kLast);
  EXPECT_THAT(EventRevisions(Messages(messages.begin() + i, messages.end())),
              ElementsAreArray({kLast + 1}));
}

TEST_F(WatchHubTest, ManyConcurrentWatchersGetEveryRevisionInOrder) {
  StartHub();
  constexpr int kWatchers = 50;
  constexpr uint64_t kEvents = 100;
  std::vector<std::unique_ptr<v1::Feed::Stub>> stubs;
  for (int i = 0; i < 5; ++i) stubs.push_back(NewStub());
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int i = 0; i < kWatchers; ++i) {
    streams.push_back(
        std::make_unique<WatchStream>(stubs[i % 5].get(), From(0)));
  }
  for (auto& s : streams) ASSERT_TRUE(s->WaitFor(HasSnapshotComplete()));
  EXPECT_EQ(hub_->watcher_count(), static_cast<size_t>(kWatchers));

  for (uint64_t votes = 1; votes <= kEvents; ++votes) CommitVotes(votes);
  for (auto& s : streams) {
    ASSERT_TRUE(s->WaitFor(HasEvent(kEvents)));
    EXPECT_THAT(EventRevisions(s->messages()),
                ElementsAreArray(Range(1, kEvents)));
  }
  EXPECT_EQ(hub_->resync_count(), 0u);
}

TEST_F(WatchHubTest, ShutdownEndsStreamsAndRefusesNewWatches) {
  StartHub();
  CommitVotes(1);
  WatchStream a(stub_.get(), From(0));
  WatchStream b(stub_.get(), From(1));
  ASSERT_TRUE(a.WaitFor(HasSnapshotComplete()));
  ASSERT_TRUE(WaitUntil([&] { return hub_->watcher_count() == 2; }));

  hub_->Shutdown();
  EXPECT_EQ(hub_->watcher_count(), 0u);
  for (WatchStream* s : {&a, &b}) {
    ASSERT_TRUE(s->WaitForEnd());
    EXPECT_TRUE(s->status().ok()) << s->status().error_message();
  }
  WatchStream late(stub_.get(), From(0));
  ASSERT_TRUE(late.WaitForEnd());
  EXPECT_EQ(late.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  // Publishing after shutdown is harmless.
  CommitVotes(2);
  EXPECT_EQ(hub_->published_revision(), 2u);
  hub_->Shutdown();  // idempotent
}

TEST_F(WatchHubTest, ShutdownCompletesWithAStalledWatcher) {
  WatchHubOptions options = QuietOptions();
  options.queue_limit = 4;
  StartHub(options);
  std::unique_ptr<v1::Feed::Stub> stalled_stub =
      NewStub({{GRPC_ARG_HTTP2_BDP_PROBE, 0},
               {GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024}});
  WatchStream stalled(stalled_stub.get(), From(0), /*read_now=*/false);
  ASSERT_TRUE(WaitUntil([&] { return hub_->watcher_count() == 1; }));
  for (uint64_t votes = 1; votes <= 200; ++votes) CommitVotes(votes, 200);
  ASSERT_TRUE(WaitUntil([&] { return hub_->resync_count() >= 1; }));

  hub_->Shutdown();
  EXPECT_EQ(hub_->watcher_count(), 0u);
  stalled.StartReading();
  EXPECT_TRUE(stalled.WaitForEnd());
}

TEST_F(WatchHubTest, ClientCancellationMidStream) {
  StartHub();
  for (uint64_t votes = 1; votes <= 20; ++votes) CommitVotes(votes);
  {
    WatchStream live(stub_.get(), From(0));
    ASSERT_TRUE(live.WaitFor(HasSnapshotComplete()));
    CommitVotes(21);
    ASSERT_TRUE(live.WaitFor(HasEvent(21)));
    live.Cancel();
    ASSERT_TRUE(live.WaitForEnd());
    EXPECT_EQ(live.status().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(WaitUntil([&] { return hub_->watcher_count() == 0; }));

  // Cancelled while its replay is held inside a read.
  log_.Pause();
  {
    WatchStream replaying(stub_.get(), From(3));
    ASSERT_TRUE(WaitUntil([&] { return log_.reads_started() >= 1; }));
    replaying.Cancel();
    ASSERT_TRUE(replaying.WaitForEnd());
  }
  ASSERT_TRUE(WaitUntil([&] { return hub_->watcher_count() == 0; }));
  log_.Resume();
  for (uint64_t votes = 22; votes <= 30; ++votes) CommitVotes(votes);

  // The hub still serves.
  WatchStream after(stub_.get(), From(25));
  ASSERT_TRUE(after.WaitFor(HasEvent(30)));
  EXPECT_THAT(EventRevisions(after.messages()),
              ElementsAreArray(Range(26, 30)));
}

}  // namespace
}  // namespace tally::feed
