#include "services/aggregator/replica_node.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/etcd/steady_wait.h"
#include "services/observability/structured_log.h"

namespace tally::aggregator {
namespace {

google::protobuf::Timestamp NowTimestamp() {
  google::protobuf::Timestamp out;
  const int64_t nanos = absl::ToUnixNanos(absl::Now());
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return out;
}

// The round's record of one batch: entries with the leader's verdicts.
void AppendBatch(const IngestItem& item, v1::ReplicatedRound* round) {
  v1::RoundBatch* batch = round->add_batches();
  batch->set_collector_id(item.collector_id);
  batch->set_region_id(item.region_id);
  for (size_t e = 0; e < item.entries.size(); ++e) {
    v1::RoundEntry* entry = batch->add_entries();
    *entry->mutable_entry() = item.entries[e];
    const ProtocolVerdict& verdict = item.prepared[e].verdict;
    entry->set_status_code(static_cast<int32_t>(verdict.status.code()));
    entry->set_message(std::string(verdict.status.message()));
    for (const v1::Finding& finding : verdict.findings) {
      *entry->add_findings() = finding;
    }
  }
}

// The batches of a round written by another replica (or by this one in an
// earlier life), as the committer takes them: nobody to acknowledge.
std::vector<IngestItem> ItemsOf(const v1::ReplicatedRound& round) {
  std::vector<IngestItem> items;
  items.reserve(round.batches_size());
  for (const v1::RoundBatch& batch : round.batches()) {
    IngestItem item;
    item.collector_id = batch.collector_id();
    item.region_id = batch.region_id();
    item.entries.reserve(batch.entries_size());
    item.prepared.reserve(batch.entries_size());
    for (const v1::RoundEntry& logged : batch.entries()) {
      item.entries.push_back(logged.entry());
      PreparedProtocol prepared;
      prepared.verdict.status =
          absl::Status(static_cast<absl::StatusCode>(logged.status_code()),
                       logged.message());
      prepared.verdict.findings.assign(logged.findings().begin(),
                                       logged.findings().end());
      const std::string& digest = logged.entry().protocol().digest();
      for (size_t i = 0; i < prepared.digest.size() && i < digest.size(); ++i) {
        prepared.digest[i] = static_cast<uint8_t>(digest[i]);
      }
      item.prepared.push_back(std::move(prepared));
    }
    items.push_back(std::move(item));
  }
  return items;
}

absl::Status NotLeader(absl::string_view replica,
                       const v1::LeaderInfo& leader) {
  if (leader.address().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "replica ", replica,
        " is not the leader and no leader is elected right now; retry "
        "shortly"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "replica ", replica, " is not the leader; send Ingest to the leader ",
      leader.replica_id(), " at ", leader.address()));
}

}  // namespace

ReplicaNode::ReplicaNode(etcd::Client* client, replication::ClusterKeys keys,
                         ReplicaOptions options, AggregatorState* state,
                         storage::AggregatorStore* store, Committer* committer,
                         StorageRecovery* recovery)
    : client_(client),
      keys_(std::move(keys)),
      options_(std::move(options)),
      state_(state),
      store_(store),
      committer_(committer),
      recovery_(recovery) {
  obs::MetricsRegistry* metrics = options_.metrics;
  if (metrics == nullptr) {
    private_metrics_ = std::make_unique<obs::MetricsRegistry>();
    metrics = private_metrics_.get();
  }
  rounds_written_ = metrics->AddCounter(
      "tally_replication_rounds_written_total",
      "Commit-log rounds this replica wrote to etcd as the leader.", {});
  round_bytes_written_ = metrics->AddCounter(
      "tally_replication_round_bytes_written_total",
      "Bytes of the commit-log rounds this replica wrote to etcd as the "
      "leader (each member stores them).",
      {});
  elections_won_ =
      metrics->AddCounter("tally_replication_elections_won_total",
                          "Times this replica was elected leader.", {});
  metrics->AddGaugeCallback(
      "tally_replication_leader",
      "1 while this replica is the leader and takes Ingest, else 0.", [this] {
        absl::MutexLock lock(&mu_);
        return fence_.has_value() ? 1.0 : 0.0;
      });
  metrics->AddGaugeCallback(
      "tally_replication_applied_index",
      "Last commit-log round applied by this replica.", [this] {
        return follower_ != nullptr
                   ? static_cast<double>(follower_->applied_index())
                   : 0.0;
      });

  v1::LeaderInfo self;
  self.set_replica_id(options_.replica_id);
  self.set_address(options_.advertise);
  replication::LeadershipOptions leadership;
  leadership.lease_ttl_seconds = options_.lease_ttl_seconds;
  leadership.step_down_pause =
      absl::Seconds(std::max<int64_t>(2, 2 * options_.lease_ttl_seconds));
  leadership_ = std::make_unique<replication::Leadership>(
      client_, keys_, self, leadership,
      replication::Leadership::Callbacks{
          [this](const replication::Fence& fence) { OnElected(fence); },
          [this](const std::string& why) { OnLost(why); }});
  follower_ = std::make_unique<replication::LogFollower>(
      client_, keys_,
      [this](const v1::ReplicatedRound& round, const storage::LogPosition& at) {
        return ApplyRound(round, at);
      },
      [this] {
        absl::ReaderMutexLock lock(&state_->mu);
        return state_->log_position();
      });
  maintenance_ = std::make_unique<replication::LogMaintenance>(
      client_, keys_, options_.maintenance);
}

ReplicaNode::~ReplicaNode() { Stop(); }

void ReplicaNode::SetStreamHooks(
    std::function<uint64_t()> open_streams,
    std::function<void(const absl::Status&)> end_streams) {
  open_streams_ = std::move(open_streams);
  end_streams_ = std::move(end_streams);
}

void ReplicaNode::Start() {
  // CATCHING_UP until the rounds in the log now are applied.
  etcdserverpb::RangeRequest last;
  last.set_key(keys_.log_prefix());
  last.set_range_end(etcd::PrefixEnd(keys_.log_prefix()));
  last.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
  last.set_sort_target(etcdserverpb::RangeRequest::KEY);
  last.set_limit(1);
  last.set_keys_only(true);
  absl::StatusOr<etcdserverpb::RangeResponse> response = client_->Range(last);
  {
    absl::MutexLock lock(&mu_);
    if (response.ok() && response->kvs_size() == 1) {
      catch_up_target_ = keys_.ParseLogKey(response->kvs(0).key()).value_or(0);
    }
  }
  follower_->Start();
  leadership_->Start();
  status_thread_ = std::thread([this] { RunStatus(); });
}

void ReplicaNode::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  leadership_->Stop();  // calls OnLost if leading: joins the proposer
  if (status_thread_.joinable()) status_thread_.join();
  follower_->Stop();
  FailOutstanding(absl::UnavailableError("the aggregator is shutting down"));
}

absl::Status ReplicaNode::Enqueue(IngestItem item) {
  if (absl::Status accepting = Accepting(); !accepting.ok()) return accepting;
  // Validation and digests on the stream's thread, as the single-node
  // committer does.
  PrepareIngestItem(state_->index(), item);
  absl::MutexLock lock(&mu_);
  if (!fence_.has_value()) return NotLeader(options_.replica_id, leader_);
  queue_.push_back(std::move(item));
  return absl::OkStatus();
}

absl::Status ReplicaNode::Accepting() const {
  if (absl::Status storage = recovery_->status(); !storage.ok()) {
    return storage;
  }
  absl::MutexLock lock(&mu_);
  if (stopping_)
    return absl::UnavailableError("the aggregator is shutting down");
  if (!fence_.has_value()) return NotLeader(options_.replica_id, leader_);
  return absl::OkStatus();
}

absl::Status ReplicaNode::CheckLeader(std::string* leader_address) const {
  absl::MutexLock lock(&mu_);
  if (fence_.has_value()) return absl::OkStatus();
  ++ingest_refused_;
  if (leader_address != nullptr) *leader_address = leader_.address();
  return NotLeader(options_.replica_id, leader_);
}

v1::ReplicaStatus ReplicaNode::Status() const {
  v1::ReplicaStatus status;
  status.set_replica_id(options_.replica_id);
  {
    absl::ReaderMutexLock lock(&state_->mu);
    status.set_applied_revision(state_->revision());
    status.set_applied_log_index(state_->log_position().index);
    status.set_applied_etcd_revision(state_->log_position().etcd_revision);
  }
  absl::MutexLock lock(&mu_);
  status.set_role(role_);
  status.set_epoch(leader_epoch_);
  status.set_leader_replica_id(leader_.replica_id());
  status.set_leader_address(leader_.address());
  if (open_streams_) status.set_ingest_streams(open_streams_());
  return status;
}

absl::Status ReplicaNode::Health() const {
  if (follower_->state() == replication::LogFollower::State::kBehind) {
    return absl::FailedPreconditionError(absl::StrCat(
        follower_->last_error(),
        " (restart this replica: it copies a peer's store at start)"));
  }
  return absl::OkStatus();
}

// --- Leading ---------------------------------------------------------------

void ReplicaNode::OnElected(const replication::Fence& fence) {
  elections_won_->Increment();
  std::thread earlier;
  {
    absl::MutexLock lock(&mu_);
    earlier = std::move(proposer_);
  }
  // OnLost joined it already; this only guards the invariant.
  if (earlier.joinable()) earlier.join();
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  leading_ = true;
  const uint64_t term = ++term_;
  leader_epoch_ = static_cast<uint64_t>(fence.epoch);
  leader_.set_replica_id(options_.replica_id);
  leader_.set_address(options_.advertise);
  proposer_ = std::thread([this, fence, term] { Propose(fence, term); });
}

void ReplicaNode::OnLost(const std::string& why) {
  std::thread proposer;
  {
    absl::MutexLock lock(&mu_);
    leading_ = false;
    fence_.reset();
    ++term_;
    if (role_ == v1::ReplicaStatus::LEADER) role_ = v1::ReplicaStatus::FOLLOWER;
    leader_.Clear();
    leader_epoch_ = 0;
    proposer = std::move(proposer_);
  }
  // Collectors hear at once; the proposer may still be waiting for etcd
  // (a round whose outcome is unknown: refusing its batches is safe, a
  // resend of a committed batch is a duplicate) and stops when it returns.
  const absl::Status refusal = absl::UnavailableError(
      absl::StrCat("replica ", options_.replica_id, " lost the leadership (",
                   why, "); resend to the new leader"));
  FailOutstanding(refusal);
  if (end_streams_) end_streams_(refusal);
  obs::LogWarning("no longer the leader", {{"reason", why}});
  if (proposer.joinable()) proposer.join();
}

bool ReplicaNode::TermActive(uint64_t term) const {
  absl::MutexLock lock(&mu_);
  return term_ == term && !stopping_;
}

std::optional<uint64_t> ReplicaNode::CatchUp(uint64_t term) {
  // The last round in the log now (a linearizable read after the
  // election: it includes every round an earlier leader committed).
  etcdserverpb::RangeRequest last;
  last.set_key(keys_.log_prefix());
  last.set_range_end(etcd::PrefixEnd(keys_.log_prefix()));
  last.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
  last.set_sort_target(etcdserverpb::RangeRequest::KEY);
  last.set_limit(1);
  last.set_keys_only(true);
  uint64_t target = 0;
  while (true) {
    if (!TermActive(term)) return std::nullopt;
    absl::StatusOr<etcdserverpb::RangeResponse> response = client_->Range(last);
    if (response.ok()) {
      if (response->kvs_size() == 1) {
        target = keys_.ParseLogKey(response->kvs(0).key()).value_or(0);
      }
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  while (!follower_->WaitApplied(target, absl::Milliseconds(200))) {
    if (!TermActive(term)) return std::nullopt;
    if (follower_->state() != replication::LogFollower::State::kApplying) {
      leadership_->StepDown("cannot apply the commit log");
      return std::nullopt;
    }
  }
  return std::max(target, follower_->applied_index()) + 1;
}

void ReplicaNode::Propose(replication::Fence fence, uint64_t term) {
  std::optional<uint64_t> next = CatchUp(term);
  if (!next.has_value()) return;
  {
    absl::MutexLock lock(&mu_);
    if (term_ != term || stopping_) return;
    fence_ = fence;
    role_ = v1::ReplicaStatus::LEADER;
  }
  obs::LogInfo("leading: taking Ingest",
               {{"epoch", fence.epoch}, {"next_round", *next}});

  uint64_t index = *next;
  while (true) {
    std::string bytes;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, term]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return term_ != term || stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (term_ != term || stopping_) return;
      // One round: whole batches, up to the byte and protocol bounds.
      v1::ReplicatedRound round;
      round.set_index(index);
      round.set_epoch(static_cast<uint64_t>(fence.epoch));
      round.set_leader_replica_id(options_.replica_id);
      *round.mutable_accepted_at() = NowTimestamp();
      Pending pending;
      pending.epoch = static_cast<uint64_t>(fence.epoch);
      size_t protocols = 0;
      size_t round_bytes = 0;
      while (!queue_.empty()) {
        IngestItem& item = queue_.front();
        if (!pending.items.empty() &&
            (protocols + item.entries.size() > options_.max_round_protocols ||
             round_bytes >= options_.max_round_bytes)) {
          break;
        }
        // A stream whose earlier batch was refused must not commit a
        // later one (its cursor would pass the refused batch).
        if (item.stream_refused != nullptr && *item.stream_refused) {
          if (item.done) {
            item.done(absl::UnavailableError(
                          "an earlier batch of this stream was not "
                          "committed; send again on a new stream"),
                      v1::IngestAck());
          }
          queue_.pop_front();
          continue;
        }
        AppendBatch(item, &round);
        // The batch's bytes plus its field tag and length.
        round_bytes +=
            round.batches(round.batches_size() - 1).ByteSizeLong() + 6;
        protocols += item.entries.size();
        pending.items.push_back(std::move(item));
        queue_.pop_front();
      }
      if (pending.items.empty()) continue;
      bytes = round.SerializeAsString();
      // Registered before the write: the follower may apply the round
      // before the Txn's answer arrives here.
      pending_[index] = std::move(pending);
    }

    bool warned = false;
    while (true) {
      replication::AppendResult result =
          replication::AppendRound(*client_, keys_, fence, index, bytes);
      if (result.outcome == replication::AppendResult::kCommitted) {
        rounds_written_->Increment();
        round_bytes_written_->Increment(static_cast<double>(bytes.size()));
        ++index;
        break;
      }
      if (result.outcome == replication::AppendResult::kDeposed) {
        obs::LogWarning("commit-log write refused by the fence",
                        {{"epoch", fence.epoch}, {"round", index}});
        leadership_->StepDown("deposed: the fence refused a round");
        return;
      }
      // Unknown: retrying the same bytes is safe. Give up only when the
      // term ends (lease lost: the round then may or may not be in the
      // log; its batches are refused and resent, and the cursors make a
      // resend of a committed batch a duplicate).
      if (!warned) {
        obs::LogWarning("commit-log write outcome unknown, retrying",
                        {{"round", index}, {"reason", result.error.message()}});
        warned = true;
      }
      if (!TermActive(term)) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
}

void ReplicaNode::FailOutstanding(const absl::Status& status) {
  std::deque<IngestItem> queued;
  std::map<uint64_t, Pending> pending;
  {
    absl::MutexLock lock(&mu_);
    queued.swap(queue_);
    pending.swap(pending_);
  }
  for (IngestItem& item : queued) {
    if (item.stream_refused != nullptr) *item.stream_refused = true;
    if (item.done) item.done(status, v1::IngestAck());
  }
  for (auto& [index, round] : pending) {
    for (IngestItem& item : round.items) {
      if (item.stream_refused != nullptr) *item.stream_refused = true;
      if (item.done) item.done(status, v1::IngestAck());
    }
  }
}

// --- Applying --------------------------------------------------------------

absl::Status ReplicaNode::ApplyRound(const v1::ReplicatedRound& round,
                                     const storage::LogPosition& at) {
  // While the store refuses writes, wait (the follower retries from the
  // store's position once it takes them again).
  if (absl::Status storage = recovery_->status(); !storage.ok()) {
    return storage;
  }
  std::vector<IngestItem> items;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(round.index());
    if (it != pending_.end()) {
      if (it->second.epoch == round.epoch()) {
        items = std::move(it->second.items);
      } else {
        // Another leader wrote this index: this replica's round never
        // committed.
        for (IngestItem& item : it->second.items) {
          if (item.stream_refused != nullptr) *item.stream_refused = true;
          if (item.done) {
            item.done(absl::UnavailableError(
                          "the leadership changed before this batch was "
                          "committed; resend to the new leader"),
                      v1::IngestAck());
          }
        }
      }
      pending_.erase(it);
    }
  }
  if (items.empty()) items = ItemsOf(round);
  RoundContext context;
  context.now = round.accepted_at();
  context.epoch = round.epoch();
  context.log_position = at;
  context.sync = false;
  absl::Status applied = committer_->ApplyRound(items, context);
  absl::MutexLock lock(&mu_);
  if (applied.ok() && role_ == v1::ReplicaStatus::CATCHING_UP &&
      at.index >= catch_up_target_) {
    role_ = v1::ReplicaStatus::FOLLOWER;
  }
  return applied;
}

// --- Status ----------------------------------------------------------------

void ReplicaNode::RunStatus() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      etcd::SteadyAwait(mu_, absl::Condition(&stopping_),
                        options_.status_interval);
      if (stopping_) return;
    }
    // Caught up without applying anything: the log was empty at start, or
    // the store (restarted, or copied from a peer) already held every round
    // it had then, and a quiet log brings no round to apply.
    uint64_t applied = 0;
    {
      absl::ReaderMutexLock lock(&state_->mu);
      applied = state_->log_position().index;
    }
    {
      absl::MutexLock lock(&mu_);
      if (role_ == v1::ReplicaStatus::CATCHING_UP &&
          applied >= catch_up_target_) {
        role_ = v1::ReplicaStatus::FOLLOWER;
      }
    }
    PublishRecord();
    RefreshLeader();
    MaybeMaintain();
    MaybeResignUnreachable();
  }
}

void ReplicaNode::PublishRecord() {
  v1::ReplicaRecord record;
  record.set_replica_id(options_.replica_id);
  record.set_address(options_.advertise);
  storage::LogPosition position;
  {
    absl::ReaderMutexLock lock(&state_->mu);
    position = state_->log_position();
    record.set_revision(state_->revision());
  }
  // What truncation trusts must survive a crash of this machine.
  if (!store_->SyncWal().ok()) return;
  record.set_applied_index(position.index);
  record.set_applied_etcd_revision(position.etcd_revision);
  {
    absl::MutexLock lock(&mu_);
    record.set_role(role_);
    record.set_ingest_refused(ingest_refused_);
  }
  if (open_streams_) record.set_ingest_streams(open_streams_());
  replication::PublishReplica(*client_, keys_, record).IgnoreError();
}

void ReplicaNode::RefreshLeader() {
  absl::StatusOr<std::optional<mvccpb::KeyValue>> leader =
      client_->Leader(keys_.election());
  if (!leader.ok()) return;
  absl::MutexLock lock(&mu_);
  if (leading_) return;  // this replica knows itself
  leader_.Clear();
  leader_epoch_ = 0;
  if (leader->has_value() && leader_.ParseFromString((*leader)->value())) {
    leader_epoch_ = static_cast<uint64_t>((*leader)->create_revision());
  }
}

void ReplicaNode::MaybeMaintain() {
  std::optional<replication::Fence> fence;
  {
    absl::MutexLock lock(&mu_);
    fence = fence_;
  }
  if (!fence.has_value() ||
      absl::Now() - last_maintenance_ < options_.maintenance_interval) {
    return;
  }
  last_maintenance_ = absl::Now();
  absl::StatusOr<replication::MaintenanceReport> report =
      maintenance_->RunOnce(*fence);
  if (!report.ok()) {
    obs::LogWarning("commit-log maintenance",
                    {{"reason", report.status().message()}});
  }
}

void ReplicaNode::MaybeResignUnreachable() {
  bool leading = false;
  {
    absl::MutexLock lock(&mu_);
    leading = fence_.has_value();
  }
  const uint64_t streams = open_streams_ ? open_streams_() : 0;
  if (!leading || streams > 0) {
    streams_seen_ = absl::Now();
    refused_growing_ = false;
    if (!leading) return;
  }
  // Do followers keep refusing collectors?
  absl::StatusOr<std::vector<replication::ReplicaEntry>> replicas =
      replication::ListReplicas(*client_, keys_);
  if (!replicas.ok()) return;
  bool growing = false;
  for (const replication::ReplicaEntry& entry : *replicas) {
    if (entry.record.replica_id() == options_.replica_id) continue;
    uint64_t& seen = refused_seen_[entry.record.replica_id()];
    if (entry.record.ingest_refused() > seen && seen != 0) growing = true;
    seen = std::max<uint64_t>(entry.record.ingest_refused(), 1);
  }
  if (streams > 0) return;
  refused_growing_ = refused_growing_ || growing;
  if (refused_growing_ &&
      absl::Now() - streams_seen_ >= options_.unreachable_leader_resign) {
    obs::LogWarning(
        "resigning: no collector reaches this leader while others refuse "
        "them",
        {{"seconds_without_streams",
          absl::ToInt64Seconds(absl::Now() - streams_seen_)}});
    streams_seen_ = absl::Now();
    refused_growing_ = false;
    leadership_->StepDown("no collector reaches this leader");
  }
}

}  // namespace tally::aggregator
