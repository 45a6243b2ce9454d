// Shared pieces of the relay acceptance tests: the real tally-aggregator
// and tally-relay binaries on loopback, a feeder of list protocols (one
// commit each) and a Watch client read by its own thread.
#ifndef TALLY_TESTS_RELAY_RELAY_FIXTURE_H_
#define TALLY_TESTS_RELAY_RELAY_FIXTURE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/domain/election_index.h"
#include "tally/v1/feed.grpc.pb.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"

namespace tally::relaytest {

// Waiting for one message; generous for the sanitizer build.
inline constexpr absl::Duration kMessageTimeout = absl::Seconds(30);
inline constexpr absl::Duration kStreamDeadline = absl::Minutes(4);

// The reference election and its simulated true protocols (seed 11).
struct Reference {
  absl::Status status;
  std::unique_ptr<ElectionIndex> index;
  std::vector<v1::StationProtocol> truth;
};
const Reference& Ref();
// The n-th protocol of the national list contest (it comes first).
const v1::StationProtocol& ListProtocol(size_t n);

// Sends protocols one per batch through the session of the station's
// region (opened on first use).
class Feeder {
 public:
  explicit Feeder(std::string address) : address_(std::move(address)) {}
  // Sends one protocol, which must be accepted; returns its revision.
  absl::StatusOr<uint64_t> SendOne(const v1::StationProtocol& protocol);

 private:
  struct Session {
    std::unique_ptr<testing::IngestSession> session;
    uint64_t next_seq = 1;
  };
  std::string address_;
  std::map<std::string, Session> sessions_;
};

// A Watch call read by its own thread into a queue.
class WatchClient {
 public:
  WatchClient(const std::shared_ptr<grpc::Channel>& channel,
              const v1::WatchRequest& request);
  ~WatchClient();

  // The next message; DeadlineExceeded when none came within `timeout`,
  // OutOfRange once the stream ended (the message has its status).
  absl::StatusOr<v1::WatchResponse> Next(absl::Duration timeout);
  // Waits for the end of the stream; its final status.
  absl::StatusOr<grpc::Status> WaitEnd(absl::Duration timeout);

 private:
  void Run();

  std::unique_ptr<v1::Feed::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::deque<v1::WatchResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

v1::WatchRequest FromRevision(uint64_t revision, bool include_stations = false);

// Reads Snapshot messages up to SnapshotComplete; returns the revision.
absl::StatusOr<uint64_t> ReadSnapshot(WatchClient& watch);
// The next event, skipping progress notifications.
absl::StatusOr<v1::Event> NextEvent(WatchClient& watch);

// Health of the whole server ("" service) by the standard health protocol:
// SERVING is 1, NOT_SERVING 2.
absl::StatusOr<int> HealthStatus(const std::string& address);

// Base fixture: an aggregator on a temp data dir and relays in front.
class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts (or restarts, on the same data dir) the aggregator on `listen`.
  void StartAggregator(const std::string& listen = "127.0.0.1:0",
                       std::vector<std::string> extra = {});
  // Stops the aggregator with `signal`; SIGTERM must exit 0.
  void StopAggregator(int signal);
  // Starts a relay following `upstream` (the aggregator when empty).
  testing::Server* StartRelay(std::vector<std::string> extra = {},
                              std::string upstream = "");
  // Waits until the relay at `address` reports SERVING.
  void AwaitServing(const std::string& address);

  // Sends the next `count` list protocols; their revisions must follow
  // each other from `first`.
  void SendList(size_t count, uint64_t first);
  // An event of a commit made by SendList: it counts exactly that protocol.
  void ExpectEventOf(const v1::Event& event);

  std::string data_dir_;
  std::string aggregator_address_;
  std::unique_ptr<testing::Server> aggregator_;
  std::vector<std::unique_ptr<testing::Server>> relays_;
  std::unique_ptr<Feeder> feeder_;
  size_t next_protocol_ = 0;
  int starts_ = 0;
  std::map<uint64_t, v1::StationProtocol> sent_;
};

}  // namespace tally::relaytest

#endif  // TALLY_TESTS_RELAY_RELAY_FIXTURE_H_
