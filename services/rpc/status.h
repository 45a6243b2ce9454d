// absl::Status inside, grpc::Status at the edge: the two status types
// share their codes (gRPC's numbering is absl's), so a conversion keeps the
// code and the message exactly. Pure functions; any thread.
#ifndef TALLY_SERVICES_RPC_STATUS_H_
#define TALLY_SERVICES_RPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace tally::rpc {

grpc::Status ToGrpc(const absl::Status& status);
absl::Status FromGrpc(const grpc::Status& status);

// The code's canonical name: "NOT_FOUND", "UNAVAILABLE", ...
std::string CodeName(grpc::StatusCode code);

}  // namespace tally::rpc

#endif  // TALLY_SERVICES_RPC_STATUS_H_
