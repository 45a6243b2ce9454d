// The leader's write of one commit-log round: a Txn that succeeds only
// while the leader key still has the leader's create revision (its epoch)
// and the round's key does not exist yet:
//
//   if CreateRevision(leader key) == epoch and CreateRevision(log key) == 0
//   then Put(log key, round)  else Range(log key)
//
// A deposed, paused or partitioned leader therefore cannot commit, whatever
// its clock says, and a retry after an unknown outcome can never write a
// round twice: if the key exists with the same bytes, the earlier attempt
// committed.
#ifndef TALLY_SERVICES_REPLICATION_LOG_WRITER_H_
#define TALLY_SERVICES_REPLICATION_LOG_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "services/etcd/client.h"
#include "services/replication/cluster_keys.h"

namespace tally::replication {

struct Fence {
  // The leader key and its create revision (the epoch).
  std::string leader_key;
  int64_t epoch = 0;
};

struct AppendResult {
  enum Outcome {
    // In the log at `revision`.
    kCommitted,
    // The fence failed: another replica leads, or this one's key is gone.
    // Nothing was written.
    kDeposed,
    // No answer (timeout, no quorum): it may or may not be in the log.
    // Retrying the same bytes is safe.
    kUnknown,
  };
  Outcome outcome = kUnknown;
  int64_t revision = 0;
  absl::Status error;  // kUnknown: why
};

AppendResult AppendRound(etcd::Client& client, const ClusterKeys& keys,
                         const Fence& fence, uint64_t index,
                         const std::string& bytes);

// A Txn compare that holds while `fence` does.
void AddFenceCompare(const Fence& fence, etcdserverpb::TxnRequest* txn);

}  // namespace tally::replication

#endif  // TALLY_SERVICES_REPLICATION_LOG_WRITER_H_
