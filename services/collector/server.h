// Assembles a collector: store, definition and index, outbox writer,
// forwarder, gRPC server with health checking and reflection; and takes it
// down in order (stop accepting, drain calls, flush the writer, stop the
// forwarder, close the store).
#ifndef TALLY_SERVICES_COLLECTOR_SERVER_H_
#define TALLY_SERVICES_COLLECTOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "services/security/station_tokens.h"

namespace tally::collector {

struct CollectorConfig {
  // Required. The region this collector serves.
  std::string region_id;
  // Empty: "collector-<region>".
  std::string collector_id;
  // Required. RocksDB directory.
  std::string data_dir;
  // host:port; port 0 picks a free one.
  std::string listen = "127.0.0.1:7500";
  std::string aggregator = "127.0.0.1:7400";
  // Definition JSON; empty: the embedded reference election.
  std::string definition_path;
  uint32_t forward_batch_entries = 512;
  uint32_t forward_inflight_batches = 4;
  int max_message_bytes = 64 << 20;
  // Transport security (services/security). Null: plain text, for tests
  // that build the server in-process; the binary always sets both.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::shared_ptr<grpc::ChannelCredentials> aggregator_credentials;
  // Station-client tokens. Null: clients are not authenticated (only
  // with --insecure).
  std::shared_ptr<const security::StationTokens> station_tokens;
  // HOST:PORT of the admin endpoint (/metrics, /healthz); empty: none.
  std::string admin_listen;
};

class CollectorServer {
 public:
  static absl::StatusOr<std::unique_ptr<CollectorServer>> Start(
      const CollectorConfig& config);
  ~CollectorServer();

  int port() const;
  // HOST:PORT of the admin endpoint; empty without one.
  std::string admin_address() const;
  // A one-line description for logs: address, region, outbox.
  std::string Describe() const;

  // Graceful stop: refuses new calls, lets in-flight ones finish for at
  // most `grace`, writes everything queued, stops forwarding.
  void Shutdown(absl::Duration grace);

 private:
  struct Parts;
  explicit CollectorServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace tally::collector

#endif  // TALLY_SERVICES_COLLECTOR_SERVER_H_
