// One aggregator replica of a replicated deployment (--etcd_endpoints):
// the role this replica plays and the commit log that connects it to the
// others (see docs/ARCHITECTURE.md, "Replication").
//
//  - Every replica, the leader included, applies the commit log in etcd
//    order into its own store with the committer's deterministic
//    classification (Committer::ApplyRound): all replicas have identical
//    revisions, totals and events.
//  - The leader (elected with etcd's election recipe, see
//    services/replication/leadership.h) takes Ingest. It groups the
//    validated batches into rounds of up to max_round_bytes and writes each
//    round to etcd in a Txn fenced on its leader key's create revision (the
//    epoch), one at a time, so a collector's batches commit in order. A
//    batch is acknowledged when its round has been applied here, never
//    before it is in etcd.
//  - On taking over, the new leader reads the last round in the log with a
//    linearizable Range and applies up to it before it accepts Ingest (the
//    catch-up barrier): the collectors' cursors it welcomes them with then
//    include everything any earlier leader committed.
//  - A follower refuses Ingest with FAILED_PRECONDITION naming the
//    leader's address (also in the `tally-leader` trailing metadata).
//  - Every second each replica syncs its WAL and publishes how far it has
//    applied (ReplicaRecord); the leader truncates the log below what every
//    live replica has applied, compacts and defragments etcd
//    (services/replication/log_maintenance.h).
//  - A leader that nobody reaches (its open Ingest streams at zero while a
//    follower refuses collectors) resigns, so that a replica the collectors
//    can reach takes over.
//
// Time is never used for safety: only etcd's fence decides whether a round
// commits. Local clocks only decide when to step down or retry.
//
// Threading: a proposer thread while leading, the log follower's thread
// (apply), the leadership thread and a status thread. Enqueue and the
// accessors are called from gRPC threads. Lock order: mu_ before the
// state's lock (apply takes the state's lock inside the committer, never
// while holding mu_).
#ifndef TALLY_SERVICES_AGGREGATOR_REPLICA_NODE_H_
#define TALLY_SERVICES_AGGREGATOR_REPLICA_NODE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/aggregator/aggregator_state.h"
#include "services/aggregator/committer.h"
#include "services/aggregator/ingest_sink.h"
#include "services/aggregator/storage_recovery.h"
#include "services/etcd/client.h"
#include "services/observability/metrics.h"
#include "services/replication/cluster_keys.h"
#include "services/replication/leadership.h"
#include "services/replication/log_follower.h"
#include "services/replication/log_maintenance.h"
#include "services/replication/log_writer.h"
#include "storage/aggregator_store.h"
#include "tally/v1/aggregator.pb.h"
#include "tally/v1/replication.pb.h"

namespace tally::aggregator {

struct ReplicaOptions {
  std::string replica_id;
  // HOST:PORT collectors and peers reach this replica at.
  std::string advertise;
  int64_t lease_ttl_seconds = 2;
  // Rounds stay well under etcd's 1.5 MiB request limit; 64-256 KB
  // measured best on a 3-member cluster.
  size_t max_round_bytes = 256 << 10;
  size_t max_round_protocols = 16384;
  absl::Duration status_interval = absl::Seconds(1);
  absl::Duration maintenance_interval = absl::Seconds(5);
  // A leader with no Ingest stream for this long while a follower refuses
  // collectors resigns (see the header comment).
  absl::Duration unreachable_leader_resign = absl::Seconds(10);
  replication::LogMaintenanceOptions maintenance;
  obs::MetricsRegistry* metrics = nullptr;
};

class ReplicaNode : public IngestSink {
 public:
  // `committer` applies rounds (its own queue is not used); `open_streams`
  // counts this replica's open Ingest streams; `end_streams` ends them all
  // with a status (called when leadership is lost).
  ReplicaNode(etcd::Client* client, replication::ClusterKeys keys,
              ReplicaOptions options, AggregatorState* state,
              storage::AggregatorStore* store, Committer* committer,
              StorageRecovery* recovery);
  ~ReplicaNode() override;

  void SetStreamHooks(std::function<uint64_t()> open_streams,
                      std::function<void(const absl::Status&)> end_streams);

  // Starts following the log and campaigning.
  void Start();
  // Resigns, stops proposing and applying; queued batches are refused.
  void Stop();

  // IngestSink: only the leader takes batches; a follower answers
  // FAILED_PRECONDITION naming the leader.
  absl::Status Enqueue(IngestItem item) override;
  absl::Status Accepting() const override;
  // OK on the leader; else FAILED_PRECONDITION and the leader's address
  // (empty when unknown), for a refused Ingest stream.
  absl::Status CheckLeader(std::string* leader_address) const;

  v1::ReplicaStatus Status() const;
  // Why this replica cannot serve ingest as it is (behind the truncated
  // log); OK otherwise. For /healthz.
  absl::Status Health() const;

 private:
  struct Pending {
    uint64_t epoch = 0;
    std::vector<IngestItem> items;
  };

  // Leadership callbacks.
  void OnElected(const replication::Fence& fence);
  void OnLost(const std::string& why);
  // The proposer: barrier, then one fenced round at a time.
  void Propose(replication::Fence fence, uint64_t term);
  // Barrier: waits until the log's last round is applied here; the next
  // index to write, or nullopt when the term ended first.
  std::optional<uint64_t> CatchUp(uint64_t term);
  bool TermActive(uint64_t term) const;
  // Fails every queued and pending batch (nothing of them was committed
  // by this replica's knowledge).
  void FailOutstanding(const absl::Status& status);

  // Follower callback: applies one round.
  absl::Status ApplyRound(const v1::ReplicatedRound& round,
                          const storage::LogPosition& at);

  // Status thread: record, leader cache, maintenance, resignation.
  void RunStatus();
  void PublishRecord();
  void RefreshLeader();
  void MaybeMaintain();
  void MaybeResignUnreachable();

  etcd::Client* const client_;
  const replication::ClusterKeys keys_;
  const ReplicaOptions options_;
  AggregatorState* const state_;
  storage::AggregatorStore* const store_;
  Committer* const committer_;
  StorageRecovery* const recovery_;
  std::function<uint64_t()> open_streams_;
  std::function<void(const absl::Status&)> end_streams_;

  std::unique_ptr<replication::Leadership> leadership_;
  std::unique_ptr<replication::LogFollower> follower_;
  std::unique_ptr<replication::LogMaintenance> maintenance_;

  mutable absl::Mutex mu_;
  v1::ReplicaStatus::Role role_ ABSL_GUARDED_BY(mu_) =
      v1::ReplicaStatus::CATCHING_UP;
  // Set while this replica leads and has passed the barrier.
  std::optional<replication::Fence> fence_ ABSL_GUARDED_BY(mu_);
  // Incremented at every election and loss: a proposer of an older term
  // stops.
  uint64_t term_ ABSL_GUARDED_BY(mu_) = 0;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<IngestItem> queue_ ABSL_GUARDED_BY(mu_);
  // Rounds written (or being written) by this replica, by index, until
  // applied here.
  std::map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  v1::LeaderInfo leader_ ABSL_GUARDED_BY(mu_);
  uint64_t leader_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // Counted by CheckLeader (const: a refusal is an observation).
  mutable uint64_t ingest_refused_ ABSL_GUARDED_BY(mu_) = 0;
  // The first log index this replica must reach before it is a FOLLOWER.
  uint64_t catch_up_target_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread proposer_ ABSL_GUARDED_BY(mu_);
  std::thread status_thread_;

  // Status-thread only.
  absl::Time last_maintenance_ = absl::InfinitePast();
  absl::Time streams_seen_ = absl::Now();
  std::map<std::string, uint64_t> refused_seen_;
  bool refused_growing_ = false;

  obs::Counter* rounds_written_ = nullptr;
  obs::Counter* round_bytes_written_ = nullptr;
  obs::Counter* elections_won_ = nullptr;
  std::unique_ptr<obs::MetricsRegistry> private_metrics_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_REPLICA_NODE_H_
