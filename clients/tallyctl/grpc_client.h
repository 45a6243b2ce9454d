// Channels and call contexts for tallyctl: an explicit deadline on every
// call, message size and keepalive matched with the servers (services/rpc),
// and gRPC statuses turned into exit codes and one-line errors.
#ifndef TALLY_CLIENTS_TALLYCTL_GRPC_CLIENT_H_
#define TALLY_CLIENTS_TALLYCTL_GRPC_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace tally::cli {

// Reads --tls_ca / --insecure and the station client token (--token_file
// or $TALLY_TOKEN) once, after flag parsing; the error is one line naming
// the flag.
absl::Status ConfigureTransport();

// A channel with the configured credentials: TLS (verified by --tls_ca or
// the system roots) unless --insecure.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

// Adds "authorization: Bearer <token>" when a token is configured. Only
// calls to collectors carry it.
void AddStationToken(grpc::ClientContext* context);

// A context whose deadline is --timeout_ms from now.
std::unique_ptr<grpc::ClientContext> CallContext();
std::unique_ptr<grpc::ClientContext> CallContext(absl::Duration timeout);

// Prints "tallyctl <command>: <code>: <message>" and returns the exit code:
// 2 for the caller's mistakes (INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE,
// PERMISSION_DENIED), 1 otherwise.
int ReportFailure(const std::string& command, const grpc::Status& status);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_GRPC_CLIENT_H_
