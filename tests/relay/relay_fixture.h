// Shared pieces of the relay acceptance tests: the real tally-aggregator
// and tally-relay binaries on loopback, fed list protocols of the reference
// election one commit each (tests/support) and watched with the shared
// feed client.
#ifndef TALLY_TESTS_RELAY_RELAY_FIXTURE_H_
#define TALLY_TESTS_RELAY_RELAY_FIXTURE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/support/feed_client.h"
#include "tests/support/ingest_session.h"
#include "tests/support/process.h"
#include "tests/support/reference_election.h"

namespace tally::relaytest {

using testing::FromRevision;
using testing::kMessageTimeout;
using testing::kStreamDeadline;
using testing::NextEvent;
using testing::ReadSnapshot;
using testing::WatchClient;

// The reference election with plausible true protocols.
inline const testing::ReferenceElection& Ref() {
  return testing::Reference(11);
}
// The n-th protocol of the national list contest (it comes first).
inline const v1::StationProtocol& ListProtocol(size_t n) {
  return Ref().truth.at(n);
}

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
  std::unique_ptr<testing::Feeder> feeder_;
  size_t next_protocol_ = 0;
  int starts_ = 0;
  std::map<uint64_t, v1::StationProtocol> sent_;
};

}  // namespace tally::relaytest

#endif  // TALLY_TESTS_RELAY_RELAY_FIXTURE_H_
