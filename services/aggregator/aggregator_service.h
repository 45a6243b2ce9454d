// tally.v1.Aggregator over the gRPC callback API: the Ingest bidi stream
// feeding the committer, and the read RPCs served from memory (totals,
// allocations) and the store (station history).
#ifndef TALLY_SERVICES_AGGREGATOR_AGGREGATOR_SERVICE_H_
#define TALLY_SERVICES_AGGREGATOR_AGGREGATOR_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "services/aggregator/aggregator_state.h"
#include "services/aggregator/ingest_sink.h"
#include "services/observability/metrics.h"
#include "services/security/collector_identities.h"
#include "storage/aggregator_store.h"
#include "tally/v1/aggregator.grpc.pb.h"

namespace tally::aggregator {

struct ServiceOptions {
  // Largest batch accepted on Ingest (else RESOURCE_EXHAUSTED).
  uint32_t max_batch_entries = 4096;
  // Batches, and protocols in them, a stream may have waiting in the
  // committer. Beyond either bound the stream stops reading: HTTP/2 flow
  // control then slows the collector, and memory stays bounded by streams
  // x (max_inflight_protocols + one batch). Many small batches in flight
  // keep the committer's rounds large when collectors send protocols one
  // by one (each round has a fixed cost: the synced write, seats).
  uint32_t max_inflight_batches = 64;
  uint32_t max_inflight_protocols = 4096;
  uint64_t epoch = 0;
  // GetElection's definition_digest (lowercase hex SHA-256); empty: computed
  // from the state's definition.
  std::string definition_digest;
  // Set with mutual TLS: each Ingest stream's client certificate must be
  // listed, and its hello must name the listed collector id and region
  // (else PERMISSION_DENIED). Null: the hello is trusted.
  std::shared_ptr<const security::CollectorIdentities> collector_identities;
  // Where refused and failed Ingest streams are counted. Null: a private
  // registry nobody scrapes.
  obs::MetricsRegistry* metrics = nullptr;
  // Replicas: whether this replica takes Ingest now. Not OK: the stream is
  // refused with that status at once, and the leader's address (when
  // known) goes in the trailing metadata `tally-leader`
  // (rpc::kLeaderMetadata). Null: always.
  std::function<absl::Status(std::string* leader_address)> ingest_gate;
  // Replicas: the current fencing epoch (welcomes carry it). Null: epoch.
  std::function<uint64_t()> current_epoch;
  // Replicas: GetReplicaStatus. Null: a single node answers as the leader
  // of epoch 0.
  std::function<v1::ReplicaStatus()> replica_status;
};

class AggregatorService : public v1::Aggregator::CallbackService {
 public:
  AggregatorService(AggregatorState* state, storage::AggregatorStore* store,
                    IngestSink* sink, ServiceOptions options);
  // Waits for the last Ingest stream to be done: gRPC ends every stream
  // before the server's Shutdown returns, but a stream's OnDone still uses
  // the service right before it goes away.
  ~AggregatorService() override;

  grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse>* Ingest(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetResults(
      grpc::CallbackServerContext* context,
      const v1::GetResultsRequest* request,
      v1::GetResultsResponse* response) override;
  grpc::ServerUnaryReactor* GetStation(
      grpc::CallbackServerContext* context,
      const v1::GetStationRequest* request,
      v1::GetStationResponse* response) override;
  grpc::ServerUnaryReactor* GetElection(
      grpc::CallbackServerContext* context,
      const v1::GetElectionRequest* request,
      v1::GetElectionResponse* response) override;
  grpc::ServerUnaryReactor* Verify(grpc::CallbackServerContext* context,
                                   const v1::VerifyRequest* request,
                                   v1::VerifyResponse* response) override;
  grpc::ServerUnaryReactor* GetReplicaStatus(
      grpc::CallbackServerContext* context,
      const v1::GetReplicaStatusRequest* request,
      v1::ReplicaStatus* response) override;
  grpc::ServerUnaryReactor* GetForensics(
      grpc::CallbackServerContext* context,
      const v1::GetForensicsRequest* request,
      v1::GetForensicsResponse* response) override;

  uint64_t open_streams() const { return open_streams_.load(); }

  // Shutdown: every Ingest stream ends with UNAVAILABLE once its batches in
  // the committer are acknowledged; new streams are refused. Collectors
  // reconnect to the restarted aggregator and resume from their cursor.
  void EndIngestStreams();
  // Replicas losing the leadership: ends every open Ingest stream with
  // `status` once its batches are answered; new streams are still taken
  // (and refused by the gate while this replica does not lead).
  void EndIngestStreamsWith(const absl::Status& status);

 private:
  class IngestStream;

  // Counts and logs an Ingest stream that ends with an error, so refused
  // identities and malformed streams show up in metrics and audit logs.
  void RecordStreamError(const grpc::Status& status, absl::string_view peer,
                         absl::string_view collector_id);

  AggregatorState* const state_;
  storage::AggregatorStore* const store_;
  IngestSink* const sink_;
  const ServiceOptions options_;
  const std::string definition_digest_;
  std::atomic<uint64_t> open_streams_{0};
  absl::Mutex streams_mu_;
  absl::flat_hash_set<IngestStream*> streams_ ABSL_GUARDED_BY(streams_mu_);
  bool shutting_down_ ABSL_GUARDED_BY(streams_mu_) = false;
  std::unique_ptr<obs::MetricsRegistry> private_metrics_;
  obs::MetricsRegistry* metrics_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_AGGREGATOR_SERVICE_H_
