#include "services/aggregator/aggregator_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/aggregator/store_node_reader.h"
#include "services/domain/contest_allocation.h"
#include "services/domain/forensics_messages.h"
#include "services/domain/seat_decision.h"
#include "services/transparency/merkle.h"
#include "services/transparency/tree_head.h"

namespace tally::aggregator {

AggregatorState::AggregatorState(std::unique_ptr<ElectionIndex> index,
                                 LogSigning signing, bool forensics)
    : index_(std::move(index)),
      signing_(std::move(signing)),
      forensics_enabled_(forensics),
      totals_(*index_),
      forensics_(totals_) {
  allocations_.resize(index_->contests().size());
  flags_.resize(totals_.size());
  for (const ContestInfo& contest : index_->contests()) {
    protocols_expected_ += contest.stations_expected;
  }
}

absl::StatusOr<std::unique_ptr<AggregatorState>> AggregatorState::Recover(
    std::unique_ptr<ElectionIndex> index, storage::AggregatorStore& store,
    LatestLoader& latest, LogSigning signing, bool forensics) {
  std::unique_ptr<AggregatorState> state(
      new AggregatorState(std::move(index), std::move(signing), forensics));
  absl::MutexLock lock(&state->mu);
  absl::Status status = state->LoadLocked(
      store,
      [&latest](const std::function<absl::Status(
                    const storage::AggregatorStore::LatestRecords&)>& fn) {
        return latest.Consume(fn);
      });
  if (!status.ok()) return status;
  return state;
}

absl::Status AggregatorState::Rebuild(storage::AggregatorStore& store) {
  totals_.Reset();
  forensics_.Reset();
  flags_.assign(totals_.size(), {});
  latest_.clear();  // keeps its buckets: sized for every protocol
  cursors_.clear();
  reported_contests_.clear();
  protocols_counted_ = 0;
  revision_ = 0;
  log_.reset();
  signed_head_.Clear();
  constexpr size_t kChunk = 16384;
  return LoadLocked(
      store,
      [&store](const std::function<absl::Status(
                   const storage::AggregatorStore::LatestRecords&)>& fn) {
        return store.ForEachLatestChunk(
            kChunk, [&fn](storage::AggregatorStore::LatestRecords records) {
              return fn(records);
            });
      });
}

absl::Status AggregatorState::LoadLocked(storage::AggregatorStore& store,
                                         const LatestSource& latest) {
  revision_ = store.revision();
  absl::StatusOr<std::optional<storage::LogPosition>> position =
      store.LoadLogPosition();
  if (!position.ok()) return position.status();
  log_position_ = position->value_or(storage::LogPosition{});
  absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>> cursors =
      store.LoadCursors();
  if (!cursors.ok()) return cursors.status();
  cursors_ = *std::move(cursors);

  absl::Status status =
      store.ForEachTotals([&](const storage::TotalsKey&, v1::Totals totals) {
        return totals_.Restore(totals);
      });
  if (!status.ok()) {
    return absl::DataLossError(
        absl::StrCat("restoring stored totals: ", status.message()));
  }
  const size_t contests = index_->contests().size();
  // Sized once (at most one protocol per station and contest): growing
  // maps of millions by rehashing doubled the time.
  latest_.reserve(protocols_expected_);
  reported_contests_.reserve(index_->definition().stations_size());
  status = latest([&](const storage::AggregatorStore::LatestRecords& records) {
    for (const auto& [key, value] : records) {
      if (key.contest >= contests) {
        return absl::DataLossError(absl::StrCat(
            "stored protocol of contest #", key.contest, " station ",
            key.station, ": the definition has ", contests, " contests"));
      }
      latest_.emplace(key, value);
      ++reported_contests_[key.station];
      ++protocols_counted_;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  // Stations checked once each, not once per contest.
  for (const auto& [station, count] : reported_contests_) {
    if (index_->FindStation(station) == nullptr) {
      return absl::DataLossError(
          absl::StrCat("stored protocols of station ", station, " (", count,
                       " contests) do not match the definition: no such "
                       "station"));
    }
  }
  // Stored totals carry their own revisions; nothing is pending.
  totals_.TakeChanged();
  absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>> decided =
      store.LoadDecidedRevisions();
  if (!decided.ok()) return decided.status();
  for (uint32_t c = 0; c < contests; ++c) {
    v1::SeatAllocation& allocation = allocations_[c];
    allocation.Clear();
    RecomputeAllocation(c);
    // The decided revision as the round that decided the contest stored
    // it; a contest decided in a store written before decided revisions
    // were kept falls back to its allocation's revision (set above).
    const auto it = decided->find(allocation.contest_id());
    if (allocation.decided() && it != decided->end() && it->second != 0 &&
        it->second <= allocation.revision()) {
      allocation.set_decided_revision(it->second);
    }
  }
  results_history_.Reset(revision_, totals_, allocations_);
  status = LoadForensicsLocked(store);
  if (!status.ok()) return status;
  return LoadLogLocked(store);
}

absl::Status AggregatorState::LoadForensicsLocked(
    storage::AggregatorStore& store) {
  if (!forensics_enabled_) return absl::OkStatus();
  if (!latest_.empty()) {
    absl::Status status = store.ForEachProtocolVersion(
        [&](const storage::ProtocolKey& key, uint32_t version,
            const v1::ProtocolVersion& stored) {
          const auto it = latest_.find(key);
          if (it != latest_.end() && it->second.version == version) {
            forensics_.Apply(nullptr, stored.protocol());
          }
          return absl::OkStatus();
        });
    if (!status.ok()) {
      return absl::DataLossError(absl::StrCat(
          "reading the counted protocols for the election forensics: ",
          status.message()));
    }
  }
  for (uint32_t entry = 0; entry < totals_.size(); ++entry) {
    const v1::Contest& contest =
        *index_->contests()[totals_.address(entry).contest].contest;
    flags_[entry] =
        FlagMessages(EvaluateForensics(forensics_.entry(entry), contest));
  }
  return absl::OkStatus();
}

void AggregatorState::UpdateForensicsFlags(const std::vector<uint32_t>& entries,
                                           v1::Event* event) {
  if (!forensics_enabled_) return;
  for (uint32_t entry : entries) {
    const v1::Contest& contest =
        *index_->contests()[totals_.address(entry).contest].contest;
    std::vector<v1::ForensicsFlag> flags =
        FlagMessages(EvaluateForensics(forensics_.entry(entry), contest));
    const std::vector<v1::ForensicsFlag>& before = flags_[entry];
    const bool same =
        flags.size() == before.size() &&
        std::equal(flags.begin(), flags.end(), before.begin(),
                   [](const v1::ForensicsFlag& a, const v1::ForensicsFlag& b) {
                     // The message carries the numbers, which move with
                     // every station: a flag changes when its kind, choice
                     // or severity does.
                     return a.kind() == b.kind() &&
                            a.choice_id() == b.choice_id() &&
                            a.severity() == b.severity();
                   });
    flags_[entry] = std::move(flags);
    if (!same) *event->add_forensics_flags() = ScopeFlagsOf(entry);
  }
}

v1::ScopeFlags AggregatorState::ScopeFlagsOf(uint32_t entry) const {
  const TotalsAddress& address = totals_.address(entry);
  v1::ScopeFlags out;
  out.set_contest_id(index_->contests()[address.contest].contest->id());
  *out.mutable_scope() = totals_.ScopeOf(address);
  for (const v1::ForensicsFlag& flag : flags_[entry]) *out.add_flags() = flag;
  return out;
}

v1::ScopeForensics AggregatorState::Forensics(uint32_t entry) const {
  const TotalsAddress& address = totals_.address(entry);
  return ScopeForensicsMessage(forensics_.entry(entry),
                               *index_->contests()[address.contest].contest,
                               totals_.ScopeOf(address), revision_);
}

std::vector<v1::ScopeFlags> AggregatorState::FlaggedScopes() const {
  std::vector<v1::ScopeFlags> out;
  for (uint32_t entry = 0; entry < flags_.size(); ++entry) {
    if (!flags_[entry].empty()) out.push_back(ScopeFlagsOf(entry));
  }
  return out;
}

absl::Status AggregatorState::LoadLogLocked(storage::AggregatorStore& store) {
  StoreNodeReader reader(store);
  absl::StatusOr<transparency::MerkleFrontier> frontier =
      transparency::MerkleFrontier::Load(reader, store.log_size());
  if (!frontier.ok()) {
    return absl::DataLossError(absl::StrCat(
        "loading the transparency log's frontier (", store.log_size(),
        " leaves): ", frontier.status().message()));
  }
  std::vector<v1::Totals> totals;
  totals.reserve(totals_.size());
  for (uint32_t entry = 0; entry < totals_.size(); ++entry) {
    totals.push_back(totals_.ToProto(entry));
  }
  log_ = std::make_unique<transparency::LogAppender>(
      signing_.key, signing_.definition_digest, *std::move(frontier), totals);
  if (revision_ == 0) {
    if (log_->size() != 0) {
      return absl::DataLossError(
          absl::StrCat("the store holds ", log_->size(),
                       " transparency log leaves but no counted revision"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<v1::SignedTreeHead>> head =
      store.LoadTreeHead(revision_);
  if (!head.ok()) return head.status();
  if (!head->has_value()) {
    return absl::DataLossError(absl::StrCat(
        "the store is at revision ", revision_,
        " but holds no signed tree head for it (a store written before the "
        "transparency log, or a damaged one); restore it from a backup"));
  }
  const v1::TreeHead& stored_head = (*head)->head();
  const std::string where =
      absl::StrCat("the signed tree head of revision ", revision_);
  if (stored_head.tree_size() != log_->size() ||
      stored_head.root_hash() != transparency::HashBytes(log_->root())) {
    return absl::DataLossError(absl::StrCat(
        where, " has ", stored_head.tree_size(), " leaves and root ",
        transparency::ShortHash(stored_head.root_hash()),
        ", but the stored tree has ", log_->size(), " leaves and root ",
        transparency::ShortHash(transparency::HashBytes(log_->root())),
        ": the log was changed after it was signed"));
  }
  if (stored_head.totals_digest() !=
      transparency::HashBytes(log_->TotalsDigest())) {
    return absl::DataLossError(absl::StrCat(
        where, " signed totals digest ",
        transparency::ShortHash(stored_head.totals_digest()),
        ", but the stored totals digest to ",
        transparency::ShortHash(transparency::HashBytes(log_->TotalsDigest())),
        ": a stored total was changed after it was signed"));
  }
  signed_head_ = **std::move(head);
  return absl::OkStatus();
}

void AggregatorState::CountFirstReport(uint32_t station_id) {
  ++reported_contests_[station_id];
  ++protocols_counted_;
}

void AggregatorState::SetCursor(const std::string& collector, uint64_t seq) {
  cursors_[collector] = seq;
}

uint64_t AggregatorState::Cursor(const std::string& collector) const {
  auto it = cursors_.find(collector);
  return it == cursors_.end() ? 0 : it->second;
}

const storage::LatestValue* AggregatorState::FindLatest(
    const storage::ProtocolKey& key) const {
  auto it = latest_.find(key);
  return it == latest_.end() ? nullptr : &it->second;
}

const v1::SeatAllocation& AggregatorState::RecomputeAllocation(
    uint32_t contest_index) {
  // The same function the auditor recomputes with (services/domain).
  const ContestInfo& info = index_->contests()[contest_index];
  v1::SeatAllocation& allocation = allocations_[contest_index];
  const uint64_t decided_before = allocation.decided_revision();
  allocation =
      PublishedAllocation(*info.contest, index_->definition().validation(),
                          totals_.ToProto(totals_.ContestEntry(contest_index)));
  allocation.set_decided_revision(
      NextDecidedRevision(decided_before, allocation));
  return allocation;
}

v1::Progress AggregatorState::Progress() const {
  v1::Progress progress;
  progress.set_stations_reported(reported_contests_.size());
  progress.set_stations_expected(index_->definition().stations_size());
  progress.set_protocols_counted(protocols_counted_);
  progress.set_protocols_expected(protocols_expected_);
  return progress;
}

feed::SnapshotView AggregatorState::Snapshot() const {
  absl::ReaderMutexLock lock(&mu);
  feed::SnapshotView view;
  view.revision = revision_;
  view.totals.reserve(totals_.size());
  for (uint32_t entry = 0; entry < totals_.size(); ++entry) {
    view.totals.push_back(totals_.ToProto(entry));
  }
  view.allocations.assign(allocations_.begin(), allocations_.end());
  view.progress = Progress();
  view.signed_head = signed_head_;
  view.forensics_flags = FlaggedScopes();
  return view;
}

}  // namespace tally::aggregator
