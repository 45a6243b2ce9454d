#include "services/aggregator/replica_setup.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/aggregator/checkpoint_fetch.h"
#include "services/domain/definition_digest.h"
#include "services/observability/structured_log.h"
#include "services/replication/log_maintenance.h"
#include "storage/aggregator_store.h"

namespace tally::aggregator {
namespace {

// What the store in data_dir holds, read without keeping it open.
struct StoreFacts {
  bool exists = false;
  std::optional<v1::ElectionDefinition> definition;
  std::optional<std::string> cluster_id;
  std::optional<storage::LogPosition> position;
  uint64_t revision = 0;
};

absl::StatusOr<StoreFacts> ReadStore(const std::string& data_dir) {
  StoreFacts facts;
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(data_dir) / "CURRENT",
                               ec)) {
    return facts;
  }
  storage::StoreOptions options;
  options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<storage::AggregatorStore>> store =
      storage::AggregatorStore::Open(data_dir, options);
  if (!store.ok()) return store.status();
  facts.exists = true;
  absl::StatusOr<std::optional<v1::ElectionDefinition>> definition =
      (*store)->LoadDefinition();
  if (!definition.ok()) return definition.status();
  facts.definition = *std::move(definition);
  absl::StatusOr<std::optional<std::string>> cluster =
      (*store)->LoadClusterId();
  if (!cluster.ok()) return cluster.status();
  facts.cluster_id = *std::move(cluster);
  absl::StatusOr<std::optional<storage::LogPosition>> position =
      (*store)->LoadLogPosition();
  if (!position.ok()) return position.status();
  facts.position = *position;
  facts.revision = (*store)->revision();
  return facts;
}

std::string NewClusterId() {
  std::random_device random;
  return absl::StrFormat("%08x%08x%08x%08x", random(), random(), random(),
                         random());
}

// The value of `key`, written as `value` when it did not exist yet (by
// this replica or any other: whoever comes first).
absl::StatusOr<std::string> GetOrCreate(etcd::Client& client,
                                        const std::string& key,
                                        const std::string& value) {
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* absent = txn.add_compare();
  absent->set_key(key);
  absent->set_target(etcdserverpb::Compare::CREATE);
  absent->set_result(etcdserverpb::Compare::EQUAL);
  absent->set_create_revision(0);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  txn.add_failure()->mutable_request_range()->set_key(key);
  absl::StatusOr<etcdserverpb::TxnResponse> response = client.Txn(txn);
  if (!response.ok()) return response.status();
  if (response->succeeded()) return value;
  const etcdserverpb::RangeResponse& existing =
      response->responses(0).response_range();
  if (existing.kvs_size() != 1) {
    return absl::UnavailableError(
        absl::StrCat("etcd key ", key, " vanished while it was read"));
  }
  return existing.kvs(0).value();
}

// Step 3: the one key every replica signs the log's heads with.
absl::Status AgreeOnLogKey(
    etcd::Client& etcd, const replication::ClusterKeys& keys,
    const std::optional<transparency::Ed25519PrivateKey>& given,
    PreparedReplica* prepared) {
  std::optional<transparency::Ed25519PrivateKey> key = given;
  prepared->log_key_source = "--log_signing_key";
  if (!key.has_value()) {
    absl::StatusOr<transparency::Ed25519PrivateKey> fresh =
        transparency::Ed25519PrivateKey::Generate();
    if (!fresh.ok()) return fresh.status();
    absl::StatusOr<std::string> pem =
        GetOrCreate(etcd, keys.log_signing_key(), fresh->ToPem());
    if (!pem.ok()) return pem.status();
    absl::StatusOr<transparency::Ed25519PrivateKey> shared =
        transparency::Ed25519PrivateKey::FromPem(*pem);
    if (!shared.ok()) {
      return absl::DataLossError(absl::StrCat("etcd key ",
                                              keys.log_signing_key(), ": ",
                                              shared.status().message()));
    }
    key = *std::move(shared);
    prepared->log_key_source = absl::StrCat("etcd ", keys.log_signing_key());
  }
  absl::StatusOr<std::string> cluster_key =
      GetOrCreate(etcd, keys.log_public_key(), key->public_key().raw());
  if (!cluster_key.ok()) return cluster_key.status();
  if (*cluster_key != key->public_key().raw()) {
    absl::StatusOr<transparency::Ed25519PublicKey> theirs =
        transparency::Ed25519PublicKey::FromRaw(*cluster_key);
    return absl::FailedPreconditionError(absl::StrCat(
        "this replica's log signing key (fingerprint ",
        key->public_key().Fingerprint(), ", from ", prepared->log_key_source,
        ") is not the cluster's (fingerprint ",
        theirs.ok() ? theirs->Fingerprint() : std::string("unreadable"),
        ", etcd key ", keys.log_public_key(),
        "); give every replica the same --log_signing_key"));
  }
  prepared->log_key = *std::move(key);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LogStart(etcd::Client& client,
                                  const replication::ClusterKeys& keys) {
  etcdserverpb::RangeRequest range;
  range.set_key(keys.log_start());
  absl::StatusOr<etcdserverpb::RangeResponse> response = client.Range(range);
  if (!response.ok()) return response.status();
  uint64_t start = 1;
  if (response->kvs_size() == 1 &&
      !absl::SimpleAtoi(response->kvs(0).value(), &start)) {
    return absl::DataLossError(
        absl::StrCat("etcd key ", keys.log_start(), " holds no round number"));
  }
  return start;
}

}  // namespace

absl::StatusOr<PreparedReplica> PrepareReplica(
    const ReplicationConfig& config, const std::string& data_dir,
    const v1::ElectionDefinition& given,
    const std::optional<transparency::Ed25519PrivateKey>& log_key) {
  if (config.replica_id.empty() || config.advertise.empty()) {
    return absl::InvalidArgumentError(
        "--etcd_endpoints needs --replica_id and --advertise HOST:PORT");
  }
  // A peer's store whose install a crash interrupted is finished first.
  absl::StatusOr<bool> installed = FinishPeerCopy(data_dir);
  if (!installed.ok()) return installed.status();
  if (*installed) {
    obs::LogInfo("finished installing a peer's store copied before a restart",
                 {{"data_dir", data_dir}});
  }
  absl::StatusOr<StoreFacts> facts = ReadStore(data_dir);
  if (!facts.ok()) return facts.status();
  const v1::ElectionDefinition& definition =
      facts->definition.has_value() ? *facts->definition : given;
  absl::StatusOr<std::string> digest = DefinitionDigest(definition);
  if (!digest.ok()) return digest.status();

  PreparedReplica prepared;
  prepared.keys = replication::ClusterKeys(
      absl::StrCat(config.etcd_prefix, definition.id(), "/"));
  etcd::ClientOptions options;
  options.endpoints = config.etcd_endpoints;
  options.credentials = config.etcd_credentials;
  absl::StatusOr<std::unique_ptr<etcd::Client>> client =
      etcd::Client::Create(options);
  if (!client.ok()) return client.status();
  prepared.client = *std::move(client);
  etcd::Client& etcd = *prepared.client;

  absl::StatusOr<std::string> cluster =
      GetOrCreate(etcd, prepared.keys.cluster_id(), NewClusterId());
  if (!cluster.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach etcd at ", etcd.endpoints_text(), ": ",
        cluster.status().message(),
        "; check --etcd_endpoints and that a quorum of members runs"));
  }
  prepared.cluster_id = *cluster;
  absl::StatusOr<std::string> cluster_digest =
      GetOrCreate(etcd, prepared.keys.definition_digest(), *digest);
  if (!cluster_digest.ok()) return cluster_digest.status();
  if (*cluster_digest != *digest) {
    return absl::FailedPreconditionError(
        absl::StrCat("this replica's election definition (digest ", *digest,
                     ") differs from the cluster's (", *cluster_digest,
                     ") under ", prepared.keys.prefix(),
                     " in etcd; give every replica the same --definition"));
  }
  if (facts->exists) {
    if (facts->cluster_id.has_value() && *facts->cluster_id != *cluster) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store in ", data_dir, " belongs to replicated cluster ",
          *facts->cluster_id, ", but etcd at ", etcd.endpoints_text(),
          " holds cluster ", *cluster,
          "; use an empty data directory to join this cluster"));
    }
    if (!facts->cluster_id.has_value() && facts->revision > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store in ", data_dir,
          " was written by a single aggregator (revision ", facts->revision,
          "), not from this cluster's commit log; use an empty data "
          "directory for a replica"));
    }
  }

  if (absl::Status agreed =
          AgreeOnLogKey(etcd, prepared.keys, log_key, &prepared);
      !agreed.ok()) {
    return agreed;
  }

  absl::StatusOr<uint64_t> log_start = LogStart(etcd, prepared.keys);
  if (!log_start.ok()) return log_start.status();
  const uint64_t next =
      facts->position.has_value() ? facts->position->index + 1 : 1;
  if (next >= *log_start) return prepared;

  // The rounds this store needs are gone: copy a live peer's store.
  obs::LogInfo("this store cannot resume from the commit log; copying a peer's",
               {{"needs_round", next}, {"log_starts_at", *log_start}});
  absl::StatusOr<std::vector<replication::ReplicaEntry>> replicas =
      replication::ListReplicas(etcd, prepared.keys);
  if (!replicas.ok()) return replicas.status();
  std::sort(replicas->begin(), replicas->end(),
            [](const replication::ReplicaEntry& a,
               const replication::ReplicaEntry& b) {
              return a.record.applied_index() > b.record.applied_index();
            });
  absl::Status last = absl::UnavailableError(
      "no other replica has published its address in etcd");
  for (const replication::ReplicaEntry& peer : *replicas) {
    if (peer.record.replica_id() == config.replica_id ||
        peer.record.address().empty() ||
        peer.record.applied_index() + 1 < *log_start) {
      continue;
    }
    absl::StatusOr<FetchResult> fetched =
        FetchPeerStore(peer.record.address(), config.peer_credentials,
                       config.replica_id, data_dir, config.copy_timeout);
    if (fetched.ok()) {
      obs::LogInfo("copied a peer's store", {{"peer", peer.record.replica_id()},
                                             {"address", peer.record.address()},
                                             {"files", fetched->files},
                                             {"bytes", fetched->bytes}});
      prepared.copied = true;
      return prepared;
    }
    last = fetched.status();
    obs::LogWarning("copying a peer's store failed",
                    {{"peer", peer.record.address()},
                     {"reason", fetched.status().message()}});
  }
  return absl::UnavailableError(
      absl::StrCat("the store in ", data_dir, " needs commit-log round ", next,
                   " but the log starts at ", *log_start,
                   ", and no peer's store could be copied: ", last.message()));
}

}  // namespace tally::aggregator
