// A replica that joins, or whose store is behind the truncated commit log,
// copies a peer's store before it opens its own (see
// checkpoint_service.h): the copy goes to a fresh directory next to the
// data directory, every file is checked against its announced size and
// synced, and only then does it replace the data directory. A copy that
// fails half-way leaves the data directory as it was.
#ifndef TALLY_SERVICES_AGGREGATOR_CHECKPOINT_FETCH_H_
#define TALLY_SERVICES_AGGREGATOR_CHECKPOINT_FETCH_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"

namespace tally::aggregator {

struct FetchResult {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Copies the store of the replica at `peer` (HOST:PORT) into `data_dir`,
// replacing what is there.
absl::StatusOr<FetchResult> FetchPeerStore(
    const std::string& peer,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& replica_id, const std::string& data_dir,
    absl::Duration timeout);

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_CHECKPOINT_FETCH_H_
