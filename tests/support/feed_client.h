// Test clients of the live feed (tally.v1.Feed.Watch on an aggregator or a
// relay): a Watch call read by its own thread into a queue, so that tests
// wait for each message with a bounded timeout, and readers of the common
// message sequences (a snapshot, the next event).
//
// Threading: a WatchClient's reader thread fills the queue; Next, WaitEnd,
// Pause and Resume may be called from any one test thread.
#ifndef TALLY_TESTS_SUPPORT_FEED_CLIENT_H_
#define TALLY_TESTS_SUPPORT_FEED_CLIENT_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "tally/v1/feed.grpc.pb.h"

namespace tally::testing {

// Waiting for one message; generous for the sanitizer build.
inline constexpr absl::Duration kMessageTimeout = absl::Seconds(30);
// The deadline of a whole Watch call.
inline constexpr absl::Duration kStreamDeadline = absl::Minutes(4);

class WatchClient {
 public:
  WatchClient(const std::shared_ptr<grpc::Channel>& channel,
              const v1::WatchRequest& request);
  // Cancels the call and joins the reader.
  ~WatchClient();

  // The next message; DeadlineExceeded when none came within `timeout`,
  // OutOfRange once the stream ended (the message has its status).
  absl::StatusOr<v1::WatchResponse> Next(absl::Duration timeout);
  // Waits for the end of the stream; its final status.
  absl::StatusOr<grpc::Status> WaitEnd(absl::Duration timeout);

  // Stops reading after the message being read now (if any), to play a
  // client that stopped reading; Resume reads again.
  void Pause();
  void Resume();

 private:
  void Run();

  std::unique_ptr<v1::Feed::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::deque<v1::WatchResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

v1::WatchRequest FromRevision(uint64_t revision, bool include_stations = false);

// The snapshot part of a stream: Snapshot messages (of one revision) then
// SnapshotComplete.
struct SnapshotRead {
  uint64_t revision = 0;
  std::vector<v1::Totals> totals;
  std::vector<v1::SeatAllocation> allocations;
  int messages = 0;
};
absl::StatusOr<SnapshotRead> ReadSnapshot(WatchClient& watch);

// The next event, skipping progress notifications; anything else is an
// error.
absl::StatusOr<v1::Event> NextEvent(WatchClient& watch);

}  // namespace tally::testing

#endif  // TALLY_TESTS_SUPPORT_FEED_CLIENT_H_
