// Keeps the commit log and etcd bounded, on the leader: a whole national
// night (millions of protocols, about a gigabyte of rounds) must never hit
// etcd's space quota.
//
// Every pass:
//  1. reads every replica's ReplicaRecord; a replica is alive while its
//     record keeps changing (records are rewritten every second) within
//     `replica_timeout`, judged by this process's monotonic clock (liveness
//     only: a replica wrongly thought dead merely has to copy a peer's
//     store later);
//  2. deletes the rounds every live replica has applied and synced, with
//     the new first index (log_start), in one Txn fenced on the leader key;
//  3. compacts etcd's history below the oldest applied etcd revision;
//  4. now and then defragments the members, one at a time and the etcd
//     leader last, when enough space is free to reclaim (defragmentation
//     blocks the member it runs on).
//
// Threading: RunOnce is called from one thread.
#ifndef TALLY_SERVICES_REPLICATION_LOG_MAINTENANCE_H_
#define TALLY_SERVICES_REPLICATION_LOG_MAINTENANCE_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/etcd/client.h"
#include "services/replication/cluster_keys.h"
#include "services/replication/log_writer.h"
#include "tally/v1/replication.pb.h"

namespace tally::replication {

struct LogMaintenanceOptions {
  absl::Duration replica_timeout = absl::Seconds(30);
  // Defragment a member when at least this much of its file is free.
  int64_t defrag_free_bytes = 64 << 20;
  absl::Duration defrag_interval = absl::Minutes(2);
};

// What the last pass did (for logs, metrics and tests).
struct MaintenanceReport {
  int live_replicas = 0;
  uint64_t log_start = 0;    // first index kept
  int64_t compacted_to = 0;  // etcd revision compacted below
  int defragmented = 0;      // members defragmented this pass
};

// Every replica's record, with the revision it was last written at.
struct ReplicaEntry {
  v1::ReplicaRecord record;
  int64_t mod_revision = 0;
};
absl::StatusOr<std::vector<ReplicaEntry>> ListReplicas(etcd::Client& client,
                                                       const ClusterKeys& keys);
absl::Status PublishReplica(etcd::Client& client, const ClusterKeys& keys,
                            const v1::ReplicaRecord& record);

class LogMaintenance {
 public:
  LogMaintenance(etcd::Client* client, ClusterKeys keys,
                 LogMaintenanceOptions options = {});

  // One pass as the leader holding `fence`. A failed fence is
  // FailedPrecondition (deposed); etcd errors are returned as they are.
  absl::StatusOr<MaintenanceReport> RunOnce(const Fence& fence);

 private:
  using Clock = std::chrono::steady_clock;
  struct Seen {
    int64_t mod_revision = 0;
    Clock::time_point changed;
  };
  absl::Status Defragment(MaintenanceReport& report);

  etcd::Client* const client_;
  const ClusterKeys keys_;
  const LogMaintenanceOptions options_;
  absl::flat_hash_map<std::string, Seen> seen_;
  uint64_t log_start_ = 0;
  int64_t compacted_ = 0;
  Clock::time_point last_defrag_{};
};

}  // namespace tally::replication

#endif  // TALLY_SERVICES_REPLICATION_LOG_MAINTENANCE_H_
