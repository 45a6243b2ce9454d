// Acceptance test (a): one relay in front of the real aggregator serves a
// thousand concurrent watchers, every one of which receives every revision
// in order and ends with the aggregator's totals and seat allocations.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/rpc/channel.h"
#include "services/rpc/reactor_hand_off.h"
#include "tests/relay/relay_fixture.h"

namespace tally::relaytest {
namespace {

constexpr int kWatchers = 1000;
constexpr int kChannels = 8;
constexpr uint64_t kCommits = 200;

std::string KeyOf(const std::string& contest, const v1::Scope& scope) {
  return absl::StrCat(contest, "|", scope.kind(), "|", scope.id());
}

// The state a watcher has seen: the latest value of every totals and
// allocation, serialized.
using SeenState = std::map<std::string, std::string>;

void Remember(const v1::Totals& t, SeenState& state) {
  state["t|" + KeyOf(t.contest_id(), t.scope())] = t.SerializeAsString();
}
void Remember(const v1::SeatAllocation& a, SeenState& state) {
  state["a|" + KeyOf(a.contest_id(), a.scope())] = a.SerializeAsString();
}

// One Watch from revision 0 over the callback API; checks the order of
// what it reads as it goes.
class AsyncWatcher final : public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  explicit AsyncWatcher(v1::Feed::Stub* stub) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + kStreamDeadline));
    request_.set_from_revision(0);
    stub->async()->Watch(&context_, &request_, this);
    rpc::HandToGrpc(this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    rpc::TakeFromGrpc(this);
    if (!ok) return;  // OnDone follows with the status
    Handle(response_);
    rpc::HandToGrpc(this);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    rpc::TakeFromGrpc(this);
    absl::MutexLock lock(&mu_);
    done_ = true;
    status_ = status;
  }

  void Cancel() { context_.TryCancel(); }

  bool live() {
    absl::MutexLock lock(&mu_);
    return snapshot_done_;
  }
  uint64_t revision() {
    absl::MutexLock lock(&mu_);
    return revision_;
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  std::string error() {
    absl::MutexLock lock(&mu_);
    if (!error_.empty()) return error_;
    if (done_ && !cancelled_) {
      return absl::StrCat("stream ended: ", status_.error_message());
    }
    return "";
  }
  void MarkCancelled() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  uint64_t events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  SeenState state() {
    absl::MutexLock lock(&mu_);
    return state_;
  }

 private:
  void Handle(const v1::WatchResponse& response) {
    absl::MutexLock lock(&mu_);
    if (!error_.empty()) return;
    switch (response.kind_case()) {
      case v1::WatchResponse::kSnapshot:
        if (snapshot_done_) {
          error_ = "a snapshot after snapshot_complete";
          return;
        }
        revision_ = response.snapshot().revision();
        for (const v1::Totals& t : response.snapshot().totals()) {
          Remember(t, state_);
        }
        for (const v1::SeatAllocation& a : response.snapshot().allocations()) {
          Remember(a, state_);
        }
        return;
      case v1::WatchResponse::kSnapshotComplete:
        snapshot_done_ = true;
        return;
      case v1::WatchResponse::kEvent: {
        const v1::Event& event = response.event();
        if (!snapshot_done_ || event.revision() != revision_ + 1) {
          error_ = absl::StrCat("event ", event.revision(), " after ",
                                revision_, snapshot_done_ ? "" : " (snapshot)");
          return;
        }
        revision_ = event.revision();
        ++events_;
        for (const v1::Totals& t : event.totals()) Remember(t, state_);
        for (const v1::SeatAllocation& a : event.allocations()) {
          Remember(a, state_);
        }
        return;
      }
      case v1::WatchResponse::kProgress:
        return;
      default:
        error_ = absl::StrCat("unexpected ", response.ShortDebugString());
    }
  }

  grpc::ClientContext context_;
  v1::WatchRequest request_;
  v1::WatchResponse response_;
  absl::Mutex mu_;
  bool snapshot_done_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  SeenState state_ ABSL_GUARDED_BY(mu_);
  std::string error_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// Polls `all` until `pred` holds for every watcher, or the deadline.
template <typename Pred>
bool AwaitAll(std::vector<std::unique_ptr<AsyncWatcher>>& all, Pred pred,
              absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    bool every = true;
    for (auto& w : all) {
      if (!w->error().empty()) return false;
      if (!pred(*w)) {
        every = false;
        break;
      }
    }
    if (every) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

class RelayFanoutTest : public RelayTest {};

TEST_F(RelayFanoutTest, AThousandWatchersReceiveEveryRevisionInOrder) {
  ASSERT_NO_FATAL_FAILURE(StartAggregator());
  testing::Server* relay = StartRelay();
  ASSERT_NE(relay, nullptr);
  ASSERT_NO_FATAL_FAILURE(AwaitServing(relay->address));

  // Several connections, so that the streams do not all share one.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Feed::Stub>> stubs;
  for (int i = 0; i < kChannels; ++i) {
    channels.push_back(
        rpc::MakeChannel(relay->address, {.own_connection = true}));
    stubs.push_back(v1::Feed::NewStub(channels.back()));
  }
  std::vector<std::unique_ptr<AsyncWatcher>> watchers;
  // Every path out of the test (a failed assertion too) ends the calls
  // before the watchers are freed: gRPC still runs their reactions until
  // OnDone. A watcher whose call does not end in time is leaked rather than
  // freed under a running reaction.
  absl::Cleanup end_calls = [&watchers] {
    for (auto& w : watchers) {
      w->MarkCancelled();
      w->Cancel();
    }
    const absl::Time deadline = absl::Now() + absl::Minutes(1);
    for (auto& w : watchers) {
      while (!w->done() && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(10));
      }
      if (!w->done()) w.release();
    }
  };
  for (int i = 0; i < kWatchers; ++i) {
    watchers.push_back(
        std::make_unique<AsyncWatcher>(stubs[i % kChannels].get()));
  }
  const bool all_live = AwaitAll(
      watchers, [](AsyncWatcher& w) { return w.live(); }, absl::Minutes(2));
  for (auto& w : watchers) ASSERT_EQ(w->error(), "");
  ASSERT_TRUE(all_live) << "not every watcher got its snapshot";

  ASSERT_NO_FATAL_FAILURE(SendList(kCommits, 1));
  const bool all_caught_up = AwaitAll(
      watchers, [](AsyncWatcher& w) { return w.revision() >= kCommits; },
      absl::Minutes(2));
  for (auto& w : watchers) ASSERT_EQ(w->error(), "");
  ASSERT_TRUE(all_caught_up) << "not every watcher reached " << kCommits;

  // The aggregator's own view at the same revision.
  SeenState truth;
  {
    WatchClient direct(rpc::MakeChannel(aggregator_address_), FromRevision(0));
    uint64_t revision = 0;
    int messages = 0;
    while (true) {
      absl::StatusOr<v1::WatchResponse> r = direct.Next(kMessageTimeout);
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->has_snapshot_complete()) break;
      ASSERT_TRUE(r->has_snapshot()) << r->ShortDebugString();
      revision = r->snapshot().revision();
      ++messages;
      for (const v1::Totals& t : r->snapshot().totals()) Remember(t, truth);
      for (const v1::SeatAllocation& a : r->snapshot().allocations()) {
        Remember(a, truth);
      }
    }
    ASSERT_EQ(revision, kCommits);
    ASSERT_GT(messages, 0);
  }
  ASSERT_FALSE(truth.empty());
  for (size_t i = 0; i < watchers.size(); ++i) {
    AsyncWatcher& w = *watchers[i];
    ASSERT_EQ(w.revision(), kCommits) << "watcher " << i;
    // Snapshot at 0, then every commit as one event.
    ASSERT_EQ(w.events(), kCommits) << "watcher " << i;
    ASSERT_TRUE(w.state() == truth) << "watcher " << i << " differs";
  }

  for (auto& w : watchers) {
    w->MarkCancelled();
    w->Cancel();
  }
  ASSERT_TRUE(AwaitAll(
      watchers, [](AsyncWatcher& w) { return w.done(); }, absl::Minutes(1)));
}

}  // namespace
}  // namespace tally::relaytest
