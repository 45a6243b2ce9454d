#include "services/aggregator/committer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/domain/protocol_digest.h"
#include "services/domain/protocol_validation.h"
#include "services/observability/structured_log.h"
#include "services/transparency/log_entry.h"

namespace tally::aggregator {
namespace {

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  google::protobuf::Timestamp out;
  const int64_t nanos = absl::ToUnixNanos(time);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return out;
}

std::array<uint8_t, 32> DigestArray(const std::string& bytes) {
  std::array<uint8_t, 32> out{};
  for (size_t i = 0; i < out.size() && i < bytes.size(); ++i) {
    out[i] = static_cast<uint8_t>(bytes[i]);
  }
  return out;
}

// Everything one commit round builds while holding the state lock.
struct Round {
  storage::CommitBatch batch;
  v1::Event event;
  // Protocols accepted earlier in this round, by key: a correction of one
  // of them must subtract it, and it is not in the store yet.
  absl::flat_hash_map<storage::ProtocolKey, size_t> accepted_here;
  uint64_t revision = 0;
  google::protobuf::Timestamp now;
  // What the round adds to the transparency log, and the stored version
  // each new leaf is.
  transparency::RoundLog log;
  std::vector<storage::VersionKey> leaf_keys;
};

// The round's log records for the store's batch.
storage::CommitBatch::LogAppend LogRecords(Round& round) {
  storage::CommitBatch::LogAppend out;
  out.first_leaf = round.log.first_leaf;
  out.leaves = std::move(round.leaf_keys);
  out.nodes.reserve(round.log.nodes.size());
  for (const auto& [node, hash] : round.log.nodes) {
    out.nodes.emplace_back(storage::LogNodeKey{node.level, node.index}, hash);
  }
  out.head = round.log.head;
  return out;
}

void Reject(v1::ProtocolResult* result, const absl::Status& status) {
  result->set_outcome(v1::OUTCOME_REJECTED);
  result->set_status_code(static_cast<int32_t>(status.code()));
  result->set_message(std::string(status.message()));
}

// Committed events waiting for the publisher before commits wait. Small:
// when watchers are slow, a waiting committer merges what arrives into
// fewer, larger rounds (fewer events to deliver) instead of queueing
// events, which would only add their publication time to every lag.
constexpr size_t kMaxUnpublishedEvents = 1;

}  // namespace

void PrepareIngestItem(const ElectionIndex& index, IngestItem& item) {
  const ValidationContext context{item.region_id};
  item.prepared.clear();
  item.prepared.resize(item.entries.size());
  for (size_t i = 0; i < item.entries.size(); ++i) {
    v1::StationProtocol& protocol = *item.entries[i].mutable_protocol();
    PreparedProtocol& prepared = item.prepared[i];
    prepared.verdict = ValidateProtocol(index, protocol, context);
    if (!prepared.verdict.accepted()) continue;
    // A supplied digest was checked against the content by validation;
    // hashing again would give the same bytes.
    if (protocol.digest().empty()) {
      protocol.set_digest(ProtocolDigest(protocol));
    }
    prepared.digest = DigestArray(protocol.digest());
  }
}

Committer::Committer(AggregatorState* state, storage::AggregatorStore* store,
                     feed::WatchHub* hub, StorageRecovery* recovery,
                     uint64_t epoch, CommitterOptions options)
    : state_(state),
      store_(store),
      hub_(hub),
      recovery_(recovery),
      epoch_(epoch),
      options_(options) {
  obs::MetricsRegistry* metrics = options_.metrics;
  if (metrics == nullptr) {
    private_metrics_ = std::make_unique<obs::MetricsRegistry>();
    metrics = private_metrics_.get();
  }
  constexpr char kOutcomes[] =
      "Protocols the committer classified, by outcome (rate() of it is the "
      "ingest rate).";
  outcome_accepted_ = metrics->AddCounter("tally_ingest_protocols_total",
                                          kOutcomes, {{"outcome", "accepted"}});
  outcome_duplicate_ = metrics->AddCounter(
      "tally_ingest_protocols_total", kOutcomes, {{"outcome", "duplicate"}});
  outcome_stale_ = metrics->AddCounter("tally_ingest_protocols_total",
                                       kOutcomes, {{"outcome", "stale"}});
  outcome_conflict_ = metrics->AddCounter("tally_ingest_protocols_total",
                                          kOutcomes, {{"outcome", "conflict"}});
  outcome_rejected_ = metrics->AddCounter("tally_ingest_protocols_total",
                                          kOutcomes, {{"outcome", "rejected"}});
  // Group commit: 1 .. 16384 protocols per synced WriteBatch.
  round_protocols_ = metrics->AddHistogram(
      "tally_commit_batch_protocols",
      "Protocols per commit round (one synced RocksDB WriteBatch).",
      obs::ExponentialBuckets(1, 2, 15));
  // 0.25 ms .. about 4 s: an fsync is around a millisecond on SSDs.
  round_seconds_ = metrics->AddHistogram(
      "tally_commit_duration_seconds",
      "Time of a commit round from classification to durable write, "
      "acknowledgement and publication.",
      obs::ExponentialBuckets(0.00025, 2, 15));
}

Committer::~Committer() { Stop(); }

void Committer::Start() {
  publisher_ = std::thread([this] { RunPublisher(); });
  if (options_.own_queue) thread_ = std::thread([this] { Run(); });
}

void Committer::Stop() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Every committed event is published before Stop returns.
  {
    absl::MutexLock lock(&publish_mu_);
    publisher_stopping_ = true;
  }
  if (publisher_.joinable()) publisher_.join();
}

void Committer::RunPublisher() {
  while (true) {
    std::shared_ptr<const v1::Event> event;
    {
      absl::MutexLock lock(&publish_mu_);
      publish_mu_.Await(absl::Condition(
          +[](Committer* self)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->publish_mu_) {
                 return self->publisher_stopping_ || !self->to_publish_.empty();
               },
          this));
      if (to_publish_.empty()) return;  // stopping, and all published
      event = std::move(to_publish_.front());
      to_publish_.pop_front();
    }
    hub_->Publish(std::move(event));
  }
}

absl::Status Committer::Accepting() const {
  {
    absl::MutexLock lock(&queue_mu_);
    if (stopping_) {
      return absl::UnavailableError("the aggregator is shutting down");
    }
  }
  return recovery_->status();
}

absl::Status Committer::Enqueue(IngestItem item) {
  // Refused before the work of preparing it while degraded.
  if (absl::Status accepting = recovery_->status(); !accepting.ok()) {
    return accepting;
  }
  PrepareIngestItem(state_->index(), item);
  absl::MutexLock lock(&queue_mu_);
  if (stopping_) {
    return absl::UnavailableError("the aggregator is shutting down");
  }
  queue_.push_back(std::move(item));
  return absl::OkStatus();
}

void Committer::FailRound(std::vector<IngestItem>& items,
                          const absl::Status& status) {
  for (IngestItem& item : items) {
    if (item.stream_refused != nullptr) *item.stream_refused = true;
    if (item.done) item.done(status, v1::IngestAck());
  }
}

void Committer::Run() {
  std::vector<IngestItem> round;
  while (true) {
    round.clear();
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](Committer* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->queue_mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything is committed
      // Group commit: everything waiting, up to the size bound.
      size_t protocols = 0;
      while (!queue_.empty() &&
             (round.empty() || protocols + queue_.front().entries.size() <=
                                   options_.max_protocols_per_commit)) {
        protocols += queue_.front().entries.size();
        round.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    // Batches queued before the store failed are refused like new ones.
    if (absl::Status accepting = recovery_->status(); !accepting.ok()) {
      FailRound(round, accepting);
      continue;
    }
    // So are the batches of a stream that already had one refused.
    std::erase_if(round, [](IngestItem& item) {
      if (item.stream_refused == nullptr || !*item.stream_refused) {
        return false;
      }
      item.done(absl::UnavailableError(
                    "an earlier batch of this stream was not committed; "
                    "send again on a new stream"),
                v1::IngestAck());
      return true;
    });
    if (round.empty()) continue;
    RoundContext context;
    context.now = ToTimestamp(absl::Now());
    context.epoch = epoch_;
    ApplyRound(round, context).IgnoreError();  // refusals went to `done`
  }
}

absl::Status Committer::ApplyRound(std::vector<IngestItem>& items,
                                   const RoundContext& context) {
  const absl::Time started = absl::Now();
  std::vector<v1::IngestAck> acks(items.size());
  Round round;
  uint64_t protocols = 0;
  uint64_t accepted = 0;
  uint64_t duplicate = 0;
  uint64_t stale = 0;
  uint64_t conflict_count = 0;
  uint64_t revision = 0;
  bool advances = false;
  // A read or the write of the round failed: nothing of it is durable.
  absl::Status failure;
  {
    absl::MutexLock lock(&state_->mu);
    const ElectionIndex& index = state_->index();
    round.revision = state_->revision() + 1;
    round.now = context.now;
    absl::flat_hash_map<std::string, uint64_t> cursors;

    for (size_t i = 0; i < items.size() && failure.ok(); ++i) {
      IngestItem& item = items[i];
      auto [cursor_it, fresh] = cursors.try_emplace(item.collector_id, 0);
      if (fresh) cursor_it->second = state_->Cursor(item.collector_id);
      uint64_t& cursor = cursor_it->second;

      for (size_t e = 0; e < item.entries.size() && failure.ok(); ++e) {
        v1::OutboxEntry& entry = item.entries[e];
        ProtocolVerdict& verdict = item.prepared[e].verdict;
        ++protocols;
        v1::StationProtocol& protocol = *entry.mutable_protocol();
        v1::ProtocolResult* result = acks[i].add_results();
        result->set_contest_id(protocol.contest_id());
        result->set_station_id(protocol.station_id());
        result->set_version(protocol.version());
        result->set_sequence(entry.seq());
        // Exactly-once across hops: a resend after a crash or reconnect
        // carries sequences at or below the stored cursor.
        if (entry.seq() <= cursor) {
          ++duplicate;
          result->set_outcome(v1::OUTCOME_DUPLICATE);
          result->set_message(absl::StrCat("sequence ", entry.seq(),
                                           " of collector ", item.collector_id,
                                           " was already applied"));
          continue;
        }
        cursor = entry.seq();

        if (!verdict.accepted()) {
          Reject(result, verdict.status);
          for (v1::Finding& finding : verdict.findings) {
            *result->add_findings() = std::move(finding);
          }
          continue;
        }
        const ContestInfo* contest = index.FindContest(protocol.contest_id());
        const storage::ProtocolKey key{static_cast<uint16_t>(contest->index),
                                       protocol.station_id()};
        const storage::LatestValue* latest = state_->FindLatest(key);
        const std::array<uint8_t, 32>& digest = item.prepared[e].digest;

        if (latest != nullptr && protocol.version() < latest->version) {
          ++stale;
          result->set_outcome(v1::OUTCOME_STALE);
          result->set_message(absl::StrCat(
              "version ", protocol.version(),
              " is older than the counted version ", latest->version));
          continue;
        }
        if (latest != nullptr && protocol.version() == latest->version) {
          if (digest == latest->digest) {
            ++duplicate;
            result->set_outcome(v1::OUTCOME_DUPLICATE);
            result->set_message(
                "this version with this content is already "
                "counted");
            continue;
          }
          Reject(result,
                 absl::AbortedError(absl::StrCat(
                     "version ", protocol.version(), " of contest ",
                     protocol.contest_id(), " station ", protocol.station_id(),
                     " is already counted with different content "
                     "(digest ",
                     HexEncode(std::string(latest->digest.begin(),
                                           latest->digest.end())),
                     "); a correction needs a higher version")));
          storage::CommitBatch::Version conflict{key, {}};
          *conflict.value.mutable_protocol() = protocol;
          conflict.value.set_revision(round.revision);
          *conflict.value.mutable_accepted_at() = round.now;
          conflict.value.set_collector_id(item.collector_id);
          conflict.value.set_collector_seq(entry.seq());
          round.batch.conflicts.push_back(std::move(conflict));
          ++conflict_count;
          continue;
        }

        // Accepted: a first report or a correction.
        v1::StationProtocol previous_stored;
        const v1::StationProtocol* previous = nullptr;
        if (latest != nullptr) {
          auto here = round.accepted_here.find(key);
          if (here != round.accepted_here.end()) {
            previous = &round.batch.protocols[here->second].value.protocol();
          } else {
            absl::StatusOr<std::optional<v1::ProtocolVersion>> stored =
                store_->GetVersion(key, latest->version);
            if (!stored.ok()) {
              failure = stored.status();
              break;
            }
            if (!stored->has_value()) {
              failure = absl::DataLossError(absl::StrCat(
                  "counted version ", latest->version, " of contest ",
                  protocol.contest_id(), " station ", protocol.station_id(),
                  " is missing from the store in ", store_->data_dir()));
              break;
            }
            previous_stored = std::move(*(*stored)->mutable_protocol());
            previous = &previous_stored;
          }
        }
        const bool anomalies = !verdict.findings.empty();
        state_->totals().Apply(previous,
                               latest != nullptr && latest->has_anomalies,
                               protocol, anomalies);
        if (state_->forensics_enabled()) {
          state_->forensics().Apply(previous, protocol);
        }
        v1::StationUpdate* update = round.event.add_stations();
        update->set_contest_id(protocol.contest_id());
        update->set_station_id(protocol.station_id());
        update->set_version(protocol.version());
        update->set_previous_version(latest != nullptr ? latest->version : 0);
        update->set_has_anomalies(anomalies);
        if (latest == nullptr) state_->CountFirstReport(protocol.station_id());

        const storage::LatestValue value{protocol.version(), digest, anomalies};
        state_->latest()[key] = value;  // invalidates `latest`
        round.batch.latest.emplace_back(key, value);

        storage::CommitBatch::Version stored{key, {}};
        stored.value.set_revision(round.revision);
        *stored.value.mutable_accepted_at() = round.now;
        stored.value.set_collector_id(item.collector_id);
        stored.value.set_collector_seq(entry.seq());
        for (v1::Finding& finding : verdict.findings) {
          *result->add_findings() = finding;
          *stored.value.add_findings() = std::move(finding);
        }
        *stored.value.mutable_protocol() = std::move(protocol);
        // One leaf per accepted version, in commit order.
        transparency::LogAppender& log = state_->log();
        stored.value.set_leaf_index(log.size());
        log.AddLeaf(transparency::LogEntryOf(stored.value), &round.log);
        round.leaf_keys.push_back(
            storage::VersionKey{key, stored.value.protocol().version()});
        round.accepted_here[key] = round.batch.protocols.size();
        round.batch.protocols.push_back(std::move(stored));
        result->set_outcome(v1::OUTCOME_ACCEPTED);
        ++accepted;
      }
      acks[i].set_durable_seq(cursor);
    }

    if (!failure.ok()) {
      recovery_->OnCommitFailed(failure);
    } else {
      for (const auto& [collector, seq] : cursors) {
        round.batch.cursors.emplace_back(collector, seq);
        state_->SetCursor(collector, seq);
      }

      // A round that counts something or keeps a conflicting submission as
      // evidence is a commit of its own revision (conflict keys include it).
      advances = accepted > 0 || !round.batch.conflicts.empty();
      if (advances) {
        TotalsBook& totals = state_->totals();
        totals.StampChanged(round.revision);
        std::vector<uint8_t> contest_changed(index.contests().size(), 0);
        const std::vector<uint32_t> changed = totals.TakeChanged();
        state_->UpdateForensicsFlags(changed, &round.event);
        for (uint32_t entry : changed) {
          const TotalsAddress& address = totals.address(entry);
          v1::Totals message = totals.ToProto(entry);
          state_->log().SetTotals(message);
          *round.event.add_totals() = message;
          round.batch.totals.emplace_back(
              storage::TotalsKey{address.contest,
                                 static_cast<uint8_t>(address.scope_kind),
                                 address.scope_index},
              std::move(message));
          if (entry == totals.ContestEntry(address.contest)) {
            contest_changed[address.contest] = 1;
          }
        }
        // Seats are recomputed only for contests whose totals changed.
        for (uint32_t c = 0; c < contest_changed.size(); ++c) {
          if (contest_changed[c]) {
            const uint64_t decided_before =
                state_->allocation(c).decided_revision();
            const v1::SeatAllocation& allocation =
                state_->RecomputeAllocation(c);
            if (allocation.decided_revision() != decided_before) {
              round.batch.decided_revisions.emplace_back(
                  allocation.contest_id(), allocation.decided_revision());
            }
            *round.event.add_allocations() = allocation;
          }
        }
        round.event.set_revision(round.revision);
        round.event.set_epoch(context.epoch);
        *round.event.mutable_committed_at() = round.now;
        *round.event.mutable_progress() = state_->Progress();
        // The revision's signed head: the tree with this round's leaves and
        // the digest of every total as this round leaves them.
        absl::StatusOr<v1::SignedTreeHead> head =
            state_->log().Seal(round.revision, round.now, &round.log);
        if (head.ok()) {
          *round.event.mutable_signed_head() = *head;
          round.batch.log = LogRecords(round);
        } else {
          failure = head.status();
        }
        round.batch.revision = round.revision;
        round.batch.event = std::move(round.event);
        // Trim the event log in steps of an eighth of the retained length, not
        // on every commit.
        const uint64_t oldest = store_->oldest_event_revision();
        const uint64_t step =
            std::max<uint64_t>(1, options_.retained_events / 8);
        if (round.revision >= oldest + options_.retained_events + step) {
          round.batch.compact_events_below =
              round.revision + 1 - options_.retained_events;
        }
      }

      round.batch.log_position = context.log_position;
      round.batch.sync = context.sync;
      if (failure.ok()) failure = store_->Commit(round.batch);
      if (failure.ok()) {
        if (advances) {
          state_->set_revision(round.revision);
          state_->set_signed_head(round.batch.log->head);
          state_->results_history().Record(*round.batch.event,
                                           state_->totals_view(), index);
        }
        if (context.log_position.has_value()) {
          state_->set_log_position(*context.log_position);
        }
        revision = state_->revision();
      } else {
        // Memory is ahead of the store: rebuilt before the lock is let go,
        // so no reader sees a round that is not durable.
        recovery_->OnCommitFailed(failure);
      }
    }
  }
  if (!failure.ok()) {
    FailRound(items, failure);
    return failure;
  }

  // Durable: acknowledge, then publish.
  for (size_t i = 0; i < items.size(); ++i) {
    acks[i].set_revision(revision);
    if (items[i].done) items[i].done(absl::OkStatus(), std::move(acks[i]));
  }
  if (advances) {
    auto event =
        std::make_shared<const v1::Event>(std::move(*round.batch.event));
    absl::MutexLock lock(&publish_mu_);
    to_publish_.push_back(std::move(event));
    // Bounded: when the watchers cannot keep up, commits wait for the
    // publisher rather than queueing events without limit.
    publish_mu_.Await(absl::Condition(
        +[](Committer* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->publish_mu_) {
          return self->to_publish_.size() < kMaxUnpublishedEvents;
        },
        this));
  }
  stats_.commits.fetch_add(1, std::memory_order_relaxed);
  stats_.protocols.fetch_add(protocols, std::memory_order_relaxed);
  stats_.accepted.fetch_add(accepted, std::memory_order_relaxed);
  stats_.last_commit_protocols.store(protocols, std::memory_order_relaxed);
  const absl::Duration took = absl::Now() - started;
  stats_.last_commit_micros.store(absl::ToInt64Microseconds(took),
                                  std::memory_order_relaxed);
  outcome_accepted_->Increment(accepted);
  outcome_duplicate_->Increment(duplicate);
  outcome_stale_->Increment(stale);
  outcome_conflict_->Increment(conflict_count);
  outcome_rejected_->Increment(protocols - accepted - duplicate - stale -
                               conflict_count);
  round_protocols_->Observe(static_cast<double>(protocols));
  round_seconds_->Observe(absl::ToDoubleSeconds(took));
  return absl::OkStatus();
}

}  // namespace tally::aggregator
