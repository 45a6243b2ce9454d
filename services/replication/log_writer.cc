#include "services/replication/log_writer.h"

namespace tally::replication {

void AddFenceCompare(const Fence& fence, etcdserverpb::TxnRequest* txn) {
  etcdserverpb::Compare* leader = txn->add_compare();
  leader->set_key(fence.leader_key);
  leader->set_target(etcdserverpb::Compare::CREATE);
  leader->set_result(etcdserverpb::Compare::EQUAL);
  leader->set_create_revision(fence.epoch);
}

AppendResult AppendRound(etcd::Client& client, const ClusterKeys& keys,
                         const Fence& fence, uint64_t index,
                         const std::string& bytes) {
  const std::string key = keys.LogKey(index);
  etcdserverpb::TxnRequest txn;
  AddFenceCompare(fence, &txn);
  etcdserverpb::Compare* fresh = txn.add_compare();
  fresh->set_key(key);
  fresh->set_target(etcdserverpb::Compare::CREATE);
  fresh->set_result(etcdserverpb::Compare::EQUAL);
  fresh->set_create_revision(0);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(bytes);
  // On failure, read the key back in the same round trip.
  txn.add_failure()->mutable_request_range()->set_key(key);

  AppendResult result;
  absl::StatusOr<etcdserverpb::TxnResponse> response = client.Txn(txn);
  if (!response.ok()) {
    result.outcome = AppendResult::kUnknown;
    result.error = response.status();
    return result;
  }
  if (response->succeeded()) {
    result.outcome = AppendResult::kCommitted;
    result.revision = response->header().revision();
    return result;
  }
  const etcdserverpb::RangeResponse& existing =
      response->responses(0).response_range();
  if (existing.kvs_size() == 1 && existing.kvs(0).value() == bytes) {
    // An earlier attempt of this very round committed.
    result.outcome = AppendResult::kCommitted;
    result.revision = existing.kvs(0).mod_revision();
    return result;
  }
  // Either the fence failed, or another leader wrote this index: in both
  // cases this replica no longer leads.
  result.outcome = AppendResult::kDeposed;
  return result;
}

}  // namespace tally::replication
