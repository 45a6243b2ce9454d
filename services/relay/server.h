// Assembles a relay: its state, the feed it serves, the upstream stream and
// the gRPC server with health checking and reflection; and takes it down
// in order (upstream, feed, then server drain).
#ifndef TALLY_SERVICES_RELAY_SERVER_H_
#define TALLY_SERVICES_RELAY_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace tally::relay {

struct RelayConfig {
  // host:port; port 0 picks a free one (see RelayServer::port).
  std::string listen = "127.0.0.1:7600";
  // Required. The aggregator or another relay, host:port.
  std::string upstream;
  // Events kept in memory for downstream resumption.
  uint64_t retained_events = 10000;
  int max_message_bytes = 64 << 20;
  size_t watch_queue_limit = 1024;
  absl::Duration progress_interval = absl::Seconds(1);
  absl::Duration reconnect_max_backoff = absl::Seconds(5);
  // How long a call resuming from a revision the relay does not have yet
  // waits for it before OUT_OF_RANGE.
  absl::Duration ahead_wait = absl::Seconds(2);
  // Transport security (services/security). Null: plain text, for tests
  // that build the server in-process; the binary always sets both.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::shared_ptr<grpc::ChannelCredentials> upstream_credentials;
  // HOST:PORT of the admin endpoint (/metrics, /healthz); empty: none.
  std::string admin_listen;
};

class RelayServer {
 public:
  static absl::StatusOr<std::unique_ptr<RelayServer>> Start(
      const RelayConfig& config);
  ~RelayServer();

  int port() const;
  // HOST:PORT of the admin endpoint; empty without one.
  std::string admin_address() const;
  // Revision of the relay's state (0 before the first snapshot).
  uint64_t revision() const;
  // A one-line description for logs: address, upstream, revision.
  std::string Describe() const;

  // Graceful stop: stops the upstream stream, ends watch streams, drains
  // in-flight calls for at most `grace`.
  void Shutdown(absl::Duration grace);

 private:
  struct Parts;
  explicit RelayServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace tally::relay

#endif  // TALLY_SERVICES_RELAY_SERVER_H_
