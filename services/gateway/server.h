// tally-gateway's HTTP server: JSON reads (/v1/election, /v1/results),
// Server-Sent Events (/v1/watch), /healthz and the web page's files, in
// front of an aggregator (reads) and a feed (the aggregator or a relay).
#ifndef TALLY_SERVICES_GATEWAY_SERVER_H_
#define TALLY_SERVICES_GATEWAY_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "services/gateway/watch_sessions.h"

namespace tally::gateway {

struct GatewayConfig {
  // HOST:PORT; port 0 picks a free one.
  std::string listen = "127.0.0.1:8080";
  // Aggregator for GetElection, GetResults and health.
  std::string upstream = "127.0.0.1:7400";
  // Feed for Watch; empty: the upstream.
  std::string feed;
  // TLS towards the upstream and the feed; null: plain text.
  std::shared_ptr<grpc::ChannelCredentials> upstream_credentials;
  std::string web_dir;
  absl::Duration rpc_timeout = absl::Seconds(5);
  // Worker threads beyond the SSE limit, for JSON and file requests, so
  // that watchers never take every thread.
  size_t http_workers = 64;
  WatchOptions watch;
  // HOST:PORT of the admin endpoint (/metrics, /healthz); empty: none.
  std::string admin_listen;
};

class GatewayServer {
 public:
  // Binds and starts serving; InvalidArgument for a bad listen address,
  // Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(
      const GatewayConfig& config);
  ~GatewayServer();

  // HOST:PORT actually served.
  std::string address() const;
  // HOST:PORT of the admin endpoint; empty without one.
  std::string admin_address() const;
  // "serving on HOST:PORT ..." for the start line.
  std::string Describe() const;

  // Stops accepting, ends every SSE stream and waits up to `grace` for
  // requests in progress. False when they did not all finish in time.
  bool Shutdown(absl::Duration grace);

 private:
  struct Parts;
  explicit GatewayServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_SERVER_H_
