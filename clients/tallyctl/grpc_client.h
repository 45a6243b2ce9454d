// Channels and call contexts for tallyctl: an explicit deadline on every
// call, message size and keepalive matched with the servers (services/rpc),
// and gRPC statuses turned into exit codes and one-line errors; a server
// that cannot be reached is named with the address tried and what to
// check.
#ifndef TALLY_CLIENTS_TALLYCTL_GRPC_CLIENT_H_
#define TALLY_CLIENTS_TALLYCTL_GRPC_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "services/rpc/replicas.h"
#include "tally/v1/aggregator.grpc.pb.h"

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

// A server a command talks to, as messages about it name it.
struct ServerRef {
  // What is expected there: "aggregator", "aggregator or relay",
  // "collector for region astana".
  std::string what;
  std::string address;
  // What to do when nothing answers there: "start one, or pass
  // --aggregator HOST:PORT".
  std::string hint;
};

// The aggregator of --aggregator (`what` for commands that also accept a
// relay there).
ServerRef AggregatorRef(const std::string& what = "aggregator");

// The replicas of --aggregator (one address, or a list of a replicated
// aggregator's replicas), with the configured credentials. Commands call
// any replica: see CallAggregator.
rpc::Replicas& AggregatorReplicas();

// Where a call to the aggregator went.
struct CallTarget {
  ServerRef server;
  std::shared_ptr<grpc::Channel> channel;
};

// Runs `call(stub)` on the current replica of --aggregator and, while the
// answer is UNAVAILABLE (a replica that cannot be reached or cannot serve
// yet), on each other one; returns the last answer and sets `used` to the
// replica that gave it (for ReportFailure).
grpc::Status CallAggregator(
    const std::function<grpc::Status(v1::Aggregator::Stub& stub)>& call,
    CallTarget* used);

// GetElection through CallAggregator: the definition in force, for the
// names that commands print (with every polling station when
// `include_stations`).
grpc::Status FetchElection(v1::GetElectionResponse* election, CallTarget* used,
                           bool include_stations = false);

// Prints `message` as indented protobuf JSON on stdout; kExitOk, or
// kExitFailure with the reason on stderr.
int PrintJson(const google::protobuf::Message& message);

// When `status` says the call never reached `server`: "no aggregator at
// 127.0.0.1:7400 (connection refused); start one, or pass --aggregator
// HOST:PORT" (a TLS mismatch names the TLS flags to check instead);
// nullopt when the server answered. `channel` is the call's.
std::optional<std::string> DescribeUnreachable(const grpc::Status& status,
                                               const ServerRef& server,
                                               grpc::Channel* channel);

// Prints "tallyctl <command>: " and then DescribeUnreachable's sentence, or
// "<code>: <the server's message>", and returns the exit code: 2 for the
// caller's mistakes (INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE,
// PERMISSION_DENIED), 1 otherwise (an unreachable server included).
int ReportFailure(const std::string& command, const grpc::Status& status,
                  const ServerRef& server, grpc::Channel* channel);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_GRPC_CLIENT_H_
