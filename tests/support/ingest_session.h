// A synchronous Aggregator.Ingest client for tests: hello, then one batch
// at a time, each answered by its acknowledgement; and a feeder that plays
// every region's collector with it. Not thread-safe: one test thread each.
#ifndef TALLY_TESTS_SUPPORT_INGEST_SESSION_H_
#define TALLY_TESTS_SUPPORT_INGEST_SESSION_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "services/domain/election_index.h"
#include "tally/v1/aggregator.grpc.pb.h"

namespace tally::testing {

class IngestSession {
 public:
  // Connects and exchanges hello/welcome. Every call is bounded by
  // `deadline` from now. `credentials`: TLS (null: plain text).
  static absl::StatusOr<std::unique_ptr<IngestSession>> Open(
      const std::string& address, const std::string& collector_id,
      const std::string& region_id, absl::Duration deadline = absl::Seconds(60),
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  // Cancels a stream still open (for example after its server died).
  ~IngestSession();

  const v1::IngestWelcome& welcome() const { return welcome_; }

  // Sends one batch and waits for its acknowledgement. A stream error
  // (the server ended the stream) is returned as the gRPC status.
  absl::StatusOr<v1::IngestAck> Send(
      const std::vector<v1::OutboxEntry>& entries);
  absl::StatusOr<v1::IngestAck> Send(const v1::IngestBatch& batch);

  // Writes an arbitrary message (for protocol-violation tests) and returns
  // the stream's final status.
  grpc::Status SendRawAndFinish(const v1::IngestRequest& request);

  // Half-closes and returns the final status.
  grpc::Status Close();

 private:
  IngestSession() = default;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Aggregator::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::IngestRequest, v1::IngestResponse>>
      stream_;
  v1::IngestWelcome welcome_;
  bool closed_ = false;
};

// Plays one collector per region against an aggregator: each protocol goes,
// in a batch of its own (one commit each), through the Ingest session of
// its station's region ("collector-<region>", opened on first use and
// resumed after the aggregator's last applied sequence).
class Feeder {
 public:
  // `index` must outlive the feeder.
  Feeder(std::string address, const ElectionIndex* index,
         absl::Duration deadline = absl::Minutes(4));
  // Sends one protocol, which must be accepted; returns its commit's
  // revision.
  absl::StatusOr<uint64_t> SendOne(const v1::StationProtocol& protocol);

 private:
  struct Session {
    std::unique_ptr<IngestSession> session;
    uint64_t next_seq = 1;
  };
  const std::string address_;
  const ElectionIndex* const index_;
  const absl::Duration deadline_;
  std::map<std::string, Session> sessions_;
};

// Wraps protocols into outbox entries numbered from `first_seq`.
std::vector<v1::OutboxEntry> Entries(
    const std::vector<v1::StationProtocol>& protocols, uint64_t first_seq);

// A client context whose deadline is `timeout` from now.
std::unique_ptr<grpc::ClientContext> DeadlineContext(absl::Duration timeout);

// Opens an Ingest stream without the hello exchange, writes `requests` as
// they are, half-closes, drains the responses and returns the final status
// (for stream-level protocol violations). `responses` receives what the
// server sent, when not null.
grpc::Status RawIngest(const std::string& address,
                       const std::vector<v1::IngestRequest>& requests,
                       absl::Duration deadline,
                       std::vector<v1::IngestResponse>* responses = nullptr);

}  // namespace tally::testing

#endif  // TALLY_TESTS_SUPPORT_INGEST_SESSION_H_
