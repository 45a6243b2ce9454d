// A replica that joins, or whose store is behind the truncated commit log,
// copies a peer's store before it opens its own (see
// checkpoint_service.h). The copy goes to DATA_DIR/.peer-copy, inside the
// data directory so that it is on the store's filesystem even when the data
// directory is a mount point (a container volume, a disk of its own); every
// file is checked against its announced size and synced. Only then is the
// copy marked complete (.peer-copy/.complete lists its files) and moved in
// place of the old store, file by file. A copy that fails half-way leaves
// the old store as it was; an install interrupted by a crash is finished by
// FinishPeerCopy at the next start.
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

// Run before the store is opened: finishes the install of a complete copy
// that a crash interrupted (true), and removes an incomplete one.
absl::StatusOr<bool> FinishPeerCopy(const std::string& data_dir);

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_CHECKPOINT_FETCH_H_
