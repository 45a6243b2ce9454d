// The one place tally builds gRPC servers (aggregator, collector, relay):
// health checking and reflection on, explicit message sizes, keepalive
// matched with the clients (keepalive.h), and the bound port read back.
//
// Building is done once, on the starting thread; the returned server is
// gRPC's and thread-safe.
#ifndef TALLY_SERVICES_RPC_SERVER_BUILDER_H_
#define TALLY_SERVICES_RPC_SERVER_BUILDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "services/rpc/keepalive.h"

namespace tally::rpc {

// Every member has a default, so that callers name only what they set.
struct ServerOptions {
  // HOST:PORT; port 0 picks a free one.
  std::string listen = "";
  // TLS (services/security); null: plain text, for tests that build a
  // server in-process (the binaries always set it).
  std::shared_ptr<grpc::ServerCredentials> credentials = nullptr;
  int max_message_bytes = kMaxMessageBytes;
  // Registered in order; they must outlive the server.
  std::vector<grpc::Service*> services = {};
};

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  // The port actually bound (the chosen one when `listen` asked for 0).
  int port = 0;
  // "HOST:PORT" with the host of `listen` and that port: what a serving
  // line names.
  std::string address;
};

// Builds and starts the server. UNAVAILABLE "cannot listen on HOST:PORT"
// when the address cannot be bound.
absl::StatusOr<StartedServer> StartServer(const ServerOptions& options);

}  // namespace tally::rpc

#endif  // TALLY_SERVICES_RPC_SERVER_BUILDER_H_
