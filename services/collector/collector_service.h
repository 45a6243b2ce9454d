// tally.v1.Collector over the gRPC callback API: Submit and SubmitStream
// validate on the calling thread and answer once the outbox writer has
// made the protocols durable; GetCollectorStatus reports the outbox and
// the forwarder.
#ifndef TALLY_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
#define TALLY_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "services/collector/forwarder.h"
#include "services/collector/outbox_writer.h"
#include "services/domain/election_index.h"
#include "services/observability/metrics.h"
#include "services/security/station_tokens.h"
#include "storage/collector_store.h"
#include "tally/v1/collector.grpc.pb.h"

namespace tally::collector {

struct CollectorServiceOptions {
  std::string collector_id;
  std::string region_id;
  // Protocols of one SubmitStream waiting for the writer; beyond this the
  // stream stops reading (HTTP/2 flow control slows the client).
  uint32_t max_pending_per_stream = 1024;
  // When set, every call needs a known bearer token, and each protocol's
  // station must be one the token's client may submit for. Null: anyone
  // may submit for any station of the region (plain-text demos).
  std::shared_ptr<const security::StationTokens> station_tokens;
  // Where submissions and refused calls are counted. Null: a private
  // registry nobody scrapes.
  obs::MetricsRegistry* metrics = nullptr;
};

class CollectorService : public v1::Collector::CallbackService {
 public:
  CollectorService(const ElectionIndex* index, storage::CollectorStore* store,
                   OutboxWriter* writer, Forwarder* forwarder,
                   CollectorServiceOptions options);

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::SubmitRequest* request,
                                   v1::SubmitResponse* response) override;
  grpc::ServerReadReactor<v1::SubmitRequest>* SubmitStream(
      grpc::CallbackServerContext* context,
      v1::SubmitStreamResponse* response) override;
  grpc::ServerUnaryReactor* GetCollectorStatus(
      grpc::CallbackServerContext* context,
      const v1::GetCollectorStatusRequest* request,
      v1::CollectorStatus* response) override;

 private:
  class SubmitStreamReactor;

  // The calling station client: UNAUTHENTICATED without a known token;
  // null when tokens are not configured.
  absl::StatusOr<const security::StationClient*> Authenticate(
      const grpc::CallbackServerContext* context) const;

  // Validates and stamps a protocol from `client` (null: anonymous): a
  // Submission for the writer (without `done`) or the rejecting verdict.
  std::variant<Submission, v1::ProtocolResult> Prepare(
      const v1::SubmitRequest& request,
      const security::StationClient* client) const;

  // Counts one final verdict under its outcome.
  void CountResult(const v1::ProtocolResult& result) const;

  const ElectionIndex* const index_;
  storage::CollectorStore* const store_;
  OutboxWriter* const writer_;
  Forwarder* const forwarder_;
  const CollectorServiceOptions options_;
  std::unique_ptr<obs::MetricsRegistry> private_metrics_;
  obs::Counter* accepted_;
  obs::Counter* duplicate_;
  obs::Counter* stale_;
  obs::Counter* rejected_;
  obs::Counter* unauthenticated_;
};

}  // namespace tally::collector

#endif  // TALLY_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
