#include "services/replication/log_maintenance.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/observability/structured_log.h"

namespace tally::replication {

absl::StatusOr<std::vector<ReplicaEntry>> ListReplicas(
    etcd::Client& client, const ClusterKeys& keys) {
  etcdserverpb::RangeRequest range;
  range.set_key(keys.replicas_prefix());
  range.set_range_end(etcd::PrefixEnd(keys.replicas_prefix()));
  absl::StatusOr<etcdserverpb::RangeResponse> response = client.Range(range);
  if (!response.ok()) return response.status();
  std::vector<ReplicaEntry> out;
  for (const mvccpb::KeyValue& kv : response->kvs()) {
    ReplicaEntry entry;
    if (!entry.record.ParseFromString(kv.value())) continue;
    entry.mod_revision = kv.mod_revision();
    out.push_back(std::move(entry));
  }
  return out;
}

absl::Status PublishReplica(etcd::Client& client, const ClusterKeys& keys,
                            const v1::ReplicaRecord& record) {
  etcdserverpb::PutRequest put;
  put.set_key(keys.ReplicaKey(record.replica_id()));
  put.set_value(record.SerializeAsString());
  return client.Put(put).status();
}

LogMaintenance::LogMaintenance(etcd::Client* client, ClusterKeys keys,
                               LogMaintenanceOptions options)
    : client_(client), keys_(std::move(keys)), options_(options) {}

absl::StatusOr<MaintenanceReport> LogMaintenance::RunOnce(const Fence& fence) {
  MaintenanceReport report;
  absl::StatusOr<std::vector<ReplicaEntry>> replicas =
      ListReplicas(*client_, keys_);
  if (!replicas.ok()) return replicas.status();
  const Clock::time_point now = Clock::now();
  uint64_t min_index = std::numeric_limits<uint64_t>::max();
  int64_t min_revision = std::numeric_limits<int64_t>::max();
  for (const ReplicaEntry& entry : *replicas) {
    auto [it, fresh] = seen_.try_emplace(entry.record.replica_id(),
                                         Seen{entry.mod_revision, now});
    if (!fresh && it->second.mod_revision != entry.mod_revision) {
      it->second = Seen{entry.mod_revision, now};
    }
    if (now - it->second.changed >
        absl::ToChronoNanoseconds(options_.replica_timeout)) {
      continue;  // not heard of for too long: it will copy a peer's store
    }
    ++report.live_replicas;
    min_index = std::min(min_index, entry.record.applied_index());
    min_revision = std::min(min_revision, entry.record.applied_etcd_revision());
  }
  if (report.live_replicas == 0) return report;

  if (log_start_ == 0) {
    etcdserverpb::RangeRequest range;
    range.set_key(keys_.log_start());
    absl::StatusOr<etcdserverpb::RangeResponse> start = client_->Range(range);
    if (!start.ok()) return start.status();
    log_start_ = 1;
    if (start->kvs_size() == 1 &&
        !absl::SimpleAtoi(start->kvs(0).value(), &log_start_)) {
      log_start_ = 0;  // read again next time
      return absl::DataLossError(absl::StrCat("etcd key ", keys_.log_start(),
                                              " holds no round number"));
    }
  }
  // Rounds 1..min_index are applied and synced everywhere alive.
  if (min_index + 1 > log_start_) {
    const uint64_t new_start = min_index + 1;
    etcdserverpb::TxnRequest txn;
    AddFenceCompare(fence, &txn);
    etcdserverpb::DeleteRangeRequest* remove =
        txn.add_success()->mutable_request_delete_range();
    remove->set_key(keys_.LogKey(0));
    remove->set_range_end(keys_.LogKey(new_start));
    etcdserverpb::PutRequest* marker = txn.add_success()->mutable_request_put();
    marker->set_key(keys_.log_start());
    marker->set_value(absl::StrCat(new_start));
    absl::StatusOr<etcdserverpb::TxnResponse> response = client_->Txn(txn);
    if (!response.ok()) return response.status();
    if (!response->succeeded()) {
      return absl::FailedPreconditionError(
          "log truncation refused by the fence: no longer the leader");
    }
    log_start_ = new_start;
  }
  report.log_start = log_start_;

  if (min_revision > compacted_ && min_revision > 0) {
    absl::Status compacted = client_->Compact(min_revision, true);
    // Compacting at or below an earlier compaction (another leader's) is
    // refused with OUT_OF_RANGE: nothing to do.
    if (!compacted.ok() && !absl::IsOutOfRange(compacted)) return compacted;
    compacted_ = min_revision;
  }
  report.compacted_to = compacted_;

  if (now - last_defrag_ >=
      absl::ToChronoNanoseconds(options_.defrag_interval)) {
    last_defrag_ = now;
    if (absl::Status s = Defragment(report); !s.ok()) {
      obs::LogWarning("etcd defragmentation", {{"reason", s.message()}});
    }
  }
  return report;
}

absl::Status LogMaintenance::Defragment(MaintenanceReport& report) {
  struct Candidate {
    size_t endpoint;
    bool etcd_leader;
  };
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < client_->endpoint_count(); ++i) {
    absl::StatusOr<etcdserverpb::StatusResponse> status =
        client_->MemberStatus(i);
    if (!status.ok()) continue;  // down: nothing to reclaim now
    if (status->dbsize() - status->dbsizeinuse() < options_.defrag_free_bytes) {
      continue;
    }
    candidates.push_back({i, status->leader() == status->header().member_id()});
  }
  // The etcd leader last: while it defragments, the cluster elects no one
  // else but its proposals wait.
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) {
                     return !a.etcd_leader && b.etcd_leader;
                   });
  for (const Candidate& c : candidates) {
    if (absl::Status s = client_->Defragment(c.endpoint); !s.ok()) return s;
    ++report.defragmented;
    obs::LogInfo("defragmented etcd member",
                 {{"endpoint", client_->endpoint(c.endpoint)}});
  }
  return absl::OkStatus();
}

}  // namespace tally::replication
