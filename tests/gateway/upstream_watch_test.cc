// UpstreamWatch against the real tally-aggregator: a tiny queue makes the
// reactor pause reading and resume from Take, and Cancel must end the call
// whether a read is in flight or reading is paused.
#include "services/gateway/upstream_watch.h"

#include <signal.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "services/gateway/upstream.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally::gateway {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(30);

class UpstreamWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::ReferenceElection& ref = testing::Reference(3);
    ASSERT_TRUE(ref.status.ok()) << ref.status;
    index_ = ref.index.get();
    truth_ = ref.truth;

    dir_ = tally::testing::MakeTempDir("upstream-watch");
    absl::StatusOr<tally::testing::Server> server = tally::testing::StartServer(
        AGGREGATOR_PATH,
        {"--data_dir", dir_ + "/data", "--listen", "127.0.0.1:0", "--insecure"},
        dir_ + ".log", absl::Minutes(2));
    ASSERT_TRUE(server.ok()) << server.status();
    aggregator_ = std::make_unique<tally::testing::Server>(*std::move(server));
    upstream_ = std::make_unique<Upstream>(
        aggregator_->address, aggregator_->address, absl::Seconds(10));
  }

  void TearDown() override {
    sessions_.clear();
    upstream_.reset();
    if (aggregator_ != nullptr) {
      testing::ExpectCleanStop(*aggregator_);
    }
    tally::testing::RemoveTempDirUnlessFailed(dir_);
  }

  // Sends the next list protocol; its commit revision.
  uint64_t SendNext() {
    const v1::StationProtocol& protocol = truth_.at(next_++);
    const v1::PollingStation* station =
        index_->FindStation(protocol.station_id());
    EXPECT_NE(station, nullptr);
    if (station == nullptr) return 0;
    Session& session = sessions_[station->region_id()];
    if (session.session == nullptr) {
      auto opened = tally::testing::IngestSession::Open(
          aggregator_->address, "collector-" + station->region_id(),
          station->region_id(), absl::Minutes(3));
      EXPECT_TRUE(opened.ok()) << opened.status();
      if (!opened.ok()) return 0;
      session.session = *std::move(opened);
      session.next_seq = session.session->welcome().last_applied_seq() + 1;
    }
    absl::StatusOr<v1::IngestAck> ack = session.session->Send(
        tally::testing::Entries({protocol}, session.next_seq++));
    EXPECT_TRUE(ack.ok()) << ack.status();
    return ack.ok() ? ack->revision() : 0;
  }

  // Takes messages until the event at `revision` (skipping progress).
  void ExpectEventsThrough(UpstreamWatch& watch, uint64_t first,
                           uint64_t last) {
    uint64_t expected = first;
    while (expected <= last) {
      v1::WatchResponse message;
      grpc::Status status;
      ASSERT_EQ(watch.Take(kTimeout, &message, &status),
                UpstreamWatch::Next::kMessage)
          << status.error_message();
      if (message.has_progress()) continue;
      ASSERT_TRUE(message.has_event()) << message.ShortDebugString();
      ASSERT_EQ(message.event().revision(), expected);
      ++expected;
    }
  }

  struct Session {
    std::unique_ptr<tally::testing::IngestSession> session;
    uint64_t next_seq = 1;
  };
  const ElectionIndex* index_ = nullptr;
  std::vector<v1::StationProtocol> truth_;
  size_t next_ = 0;
  std::string dir_;
  std::unique_ptr<tally::testing::Server> aggregator_;
  std::unique_ptr<Upstream> upstream_;
  std::map<std::string, Session> sessions_;
};

v1::WatchRequest From(uint64_t revision) {
  v1::WatchRequest request;
  request.set_from_revision(revision);
  request.set_progress_interval_ms(60000);  // no progress in the way
  return request;
}

TEST_F(UpstreamWatchTest, PausedReadingResumesWithoutLosingMessages) {
  std::shared_ptr<UpstreamWatch> watch =
      UpstreamWatch::Start(upstream_.get(), From(0), absl::Minutes(3), 2);
  v1::WatchResponse message;
  grpc::Status status;
  ASSERT_EQ(watch->Take(kTimeout, &message, &status),
            UpstreamWatch::Next::kMessage);
  ASSERT_TRUE(message.has_snapshot());
  ASSERT_EQ(watch->Take(kTimeout, &message, &status),
            UpstreamWatch::Next::kMessage);
  ASSERT_TRUE(message.has_snapshot_complete());
  // Far more commits than the queue holds, none taken meanwhile.
  for (uint64_t revision = 1; revision <= 40; ++revision) {
    ASSERT_EQ(SendNext(), revision);
  }
  ASSERT_NO_FATAL_FAILURE(ExpectEventsThrough(*watch, 1, 40));
  EXPECT_EQ(watch->Take(absl::Milliseconds(50), &message, &status),
            UpstreamWatch::Next::kTimeout);
  watch->Cancel();
  EXPECT_EQ(watch->Take(kTimeout, &message, &status),
            UpstreamWatch::Next::kEnded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(UpstreamWatchTest, CancelWhilePausedEndsTheCall) {
  for (uint64_t revision = 1; revision <= 10; ++revision) {
    ASSERT_EQ(SendNext(), revision);
  }
  // The replay of 9 events fills a queue of 3: reading pauses.
  std::shared_ptr<UpstreamWatch> watch =
      UpstreamWatch::Start(upstream_.get(), From(1), absl::Minutes(3), 3);
  const absl::Time deadline = absl::Now() + kTimeout;
  while (!watch->paused()) {
    ASSERT_LT(absl::Now(), deadline) << "reading never paused";
    absl::SleepFor(absl::Milliseconds(5));
  }
  watch->Cancel();
  watch->Cancel();  // twice is harmless
  v1::WatchResponse message;
  grpc::Status status;
  // What was queued is still delivered, then the end.
  int taken = 0;
  UpstreamWatch::Next next;
  while ((next = watch->Take(kTimeout, &message, &status)) ==
         UpstreamWatch::Next::kMessage) {
    ++taken;
  }
  EXPECT_EQ(next, UpstreamWatch::Next::kEnded);
  EXPECT_EQ(taken, 3);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(UpstreamWatchTest, ReleasedWithoutCancelOrTakeIsSafe) {
  // The caller lets go at once; the reactor lives on until its call ends
  // (at the deadline, here short).
  UpstreamWatch::Start(upstream_.get(), From(0), absl::Milliseconds(300), 4);
  std::shared_ptr<UpstreamWatch> watch = UpstreamWatch::Start(
      upstream_.get(), From(0), absl::Milliseconds(300), 4);
  v1::WatchResponse message;
  grpc::Status status;
  UpstreamWatch::Next next;
  while ((next = watch->Take(kTimeout, &message, &status)) ==
         UpstreamWatch::Next::kMessage) {
  }
  EXPECT_EQ(next, UpstreamWatch::Next::kEnded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(UpstreamWatchTest, UnreachableFeedEndsUnavailable) {
  Upstream nowhere("127.0.0.1:1", "127.0.0.1:1", absl::Seconds(5));
  std::shared_ptr<UpstreamWatch> watch =
      UpstreamWatch::Start(&nowhere, From(0), absl::Seconds(20), 4);
  v1::WatchResponse message;
  grpc::Status status;
  EXPECT_EQ(watch->Take(kTimeout, &message, &status),
            UpstreamWatch::Next::kEnded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(nowhere.CheckHealth().status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(upstream_->CheckHealth().status.ok());
}

}  // namespace
}  // namespace tally::gateway
