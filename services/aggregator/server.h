// Assembles the aggregator: store, recovered state, committer, watch hub,
// gRPC server with health checking and reflection; and takes it down in
// the right order (feed, then server drain, then committer, then store).
#ifndef TALLY_SERVICES_AGGREGATOR_SERVER_H_
#define TALLY_SERVICES_AGGREGATOR_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "services/aggregator/replica_setup.h"
#include "services/security/collector_identities.h"

namespace tally::aggregator {

struct AggregatorConfig {
  // host:port; port 0 picks a free one (see AggregatorServer::port).
  std::string listen = "127.0.0.1:7400";
  // Required. RocksDB directory.
  std::string data_dir;
  // Definition JSON. Empty: the one stored in data_dir, or on a new store
  // the embedded reference election. A definition that differs from the
  // stored one is refused.
  std::string definition_path;
  uint64_t retained_events = 100000;
  // Revisions whose figures GetResults still serves by revision (kept in
  // memory, see results_history.h); at least the current one.
  uint64_t retained_results = 1000;
  uint32_t max_batch_entries = 4096;
  uint32_t max_inflight_batches = 64;
  uint32_t max_inflight_protocols = 4096;
  size_t max_protocols_per_commit = 16384;
  int max_message_bytes = 64 << 20;
  size_t watch_queue_limit = 1024;
  absl::Duration progress_interval = absl::Seconds(1);
  // Transport security (services/security). Null: plain text, for tests
  // that build the server in-process; the binary always sets it.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // When set, Ingest requires a verified client certificate listed here,
  // and a collector may only speak for the region and collector id its
  // certificate is bound to. Null: the hello is trusted (plain text).
  std::shared_ptr<const security::CollectorIdentities> collector_identities;
  // HOST:PORT of the admin endpoint (/metrics, /healthz); empty: none.
  std::string admin_listen;
  // Replication on etcd (--etcd_endpoints); no endpoints: a single node.
  ReplicationConfig replication;
  // The transparency log's Ed25519 signing key (--log_signing_key: PKCS#8
  // PEM or a signed-note signer key). Empty: a single aggregator keeps one
  // in DATA_DIR/log_signing_key.pem, generated on first start; replicas
  // share the cluster's (see replica_setup.h).
  std::string log_signing_key_path;
  // Verifier keys of the witnesses whose cosignatures the log accepts
  // (--log_witness_keys: one C2SP note verifier key per line, "#"
  // comments). Empty: AddCosignature refuses every witness.
  std::string log_witness_keys_path;
  // Election forensics (--forensics): kept with the totals, rebuilt at
  // start. Off: GetForensics answers FAILED_PRECONDITION and the feed
  // carries no flags (for a measurement of their cost, or a start that must
  // not scan the stored protocols).
  bool forensics = true;
  // Replicas: how often the leader truncates the log (tests shorten it).
  absl::Duration log_maintenance_interval = absl::Seconds(5);
};

class AggregatorServer {
 public:
  static absl::StatusOr<std::unique_ptr<AggregatorServer>> Start(
      const AggregatorConfig& config);
  ~AggregatorServer();

  int port() const;
  uint64_t revision() const;
  // HOST:PORT of the admin endpoint; empty without one.
  std::string admin_address() const;
  // A one-line description for logs: address, revision, election.
  std::string Describe() const;

  // Graceful stop: ends watch streams, drains in-flight calls for at most
  // `grace`, commits everything queued, closes the store.
  void Shutdown(absl::Duration grace);

 private:
  struct Parts;
  explicit AggregatorServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_SERVER_H_
