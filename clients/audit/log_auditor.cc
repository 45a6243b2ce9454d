#include "clients/audit/log_auditor.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/domain/contest_allocation.h"
#include "services/domain/protocol_validation.h"
#include "services/transparency/log_entry.h"
#include "services/transparency/totals_digest.h"

namespace tally::audit {

using transparency::Hash;

namespace {

// The level of a block of kBlockLeaves leaves in the Merkle tree.
constexpr uint8_t kBlockLevel = 8;
static_assert(kBlockLeaves == uint64_t{1} << kBlockLevel);

}  // namespace

LogAuditor::LogAuditor(const ElectionIndex& index)
    : index_(index), book_(index) {}

absl::Status LogAuditor::Restore(const v1::AuditState& state) {
  const uint64_t size = state.head().head().tree_size();
  std::vector<Hash> frontier;
  for (const std::string& bytes : state.frontier()) {
    absl::StatusOr<Hash> hash =
        transparency::HashFromBytes(bytes, "audit state frontier hash");
    if (!hash.ok()) return hash.status();
    frontier.push_back(*hash);
  }
  absl::StatusOr<transparency::MerkleFrontier> restored =
      transparency::MerkleFrontier::FromNodes(size, std::move(frontier));
  if (!restored.ok()) return restored.status();
  if (static_cast<uint64_t>(state.block_hashes_size()) != size / kBlockLeaves) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit state: ", state.block_hashes_size(),
                     " block hashes for ", size, " leaves"));
  }
  std::vector<Hash> blocks;
  for (const std::string& bytes : state.block_hashes()) {
    absl::StatusOr<Hash> hash =
        transparency::HashFromBytes(bytes, "audit state block hash");
    if (!hash.ok()) return hash.status();
    blocks.push_back(*hash);
  }
  for (const v1::Totals& totals : state.totals()) {
    if (absl::Status status = book_.Restore(totals); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("audit state: ", status.message()));
    }
  }
  book_.TakeChanged();
  counted_.reserve(state.protocols_size());
  for (const v1::AuditedProtocol& protocol : state.protocols()) {
    const ContestInfo* contest = index_.FindContest(protocol.contest_id());
    if (contest == nullptr ||
        index_.FindStation(protocol.station_id()) == nullptr ||
        protocol.leaf_index() >= size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "audit state: counted protocol of contest \"", protocol.contest_id(),
          "\" station ", protocol.station_id(), " (leaf ",
          protocol.leaf_index(), ") does not fit the definition and the log"));
    }
    Counted& counted = counted_[Key{contest->index, protocol.station_id()}];
    counted.leaf_index = protocol.leaf_index();
    counted.version = protocol.version();
  }
  for (const auto& [collector, sequence] : state.collector_sequences()) {
    sequences_[collector] = sequence;
  }
  frontier_ = *std::move(restored);
  blocks_ = std::move(blocks);
  restored_revision_ = state.head().head().revision();
  last_revision_ = restored_revision_;
  return absl::OkStatus();
}

PreparedLeaf LogAuditor::Prepare(const ElectionIndex& index,
                                 absl::string_view leaf_data) {
  PreparedLeaf leaf;
  leaf.hash = transparency::HashLeaf(leaf_data);
  absl::StatusOr<v1::LogEntry> entry = transparency::ParseLeafData(leaf_data);
  if (!entry.ok()) {
    leaf.problems.emplace_back(entry.status().message());
    return leaf;
  }
  leaf.parsed = true;
  leaf.entry = *std::move(entry);
  const v1::StationProtocol& protocol = leaf.entry.protocol();
  if (protocol.digest().empty()) {
    leaf.problems.emplace_back("the protocol carries no content digest");
  }
  // Validation also checks a present digest against the content.
  const ProtocolVerdict verdict = ValidateProtocol(index, protocol);
  if (!verdict.accepted()) {
    const auto digest = std::find_if(
        verdict.findings.begin(), verdict.findings.end(),
        [](const v1::Finding& f) { return f.rule() == "digest_mismatch"; });
    if (digest != verdict.findings.end()) {
      leaf.problems.push_back(absl::StrCat(
          "the protocol's content does not match its digest (",
          digest->message(), "): it was changed after it was accepted"));
    }
    if (digest == verdict.findings.end() || verdict.findings.size() > 1) {
      leaf.problems.push_back(
          absl::StrCat("was counted, but validation refuses it: ",
                       verdict.status.message()));
    }
  }
  leaf.anomalies = verdict.has_anomalies();
  return leaf;
}

std::string LogAuditor::Where(uint64_t leaf_index,
                              const v1::LogEntry& entry) const {
  return absl::StrCat(
      "leaf ", leaf_index, " (contest ", entry.protocol().contest_id(),
      ", station ", entry.protocol().station_id(), ", version ",
      entry.protocol().version(), ", revision ", entry.revision(), ")");
}

void LogAuditor::AppendHash(const Hash& hash) {
  new_nodes_.clear();
  frontier_.Append(hash, &new_nodes_);
  for (const auto& [node, subtree] : new_nodes_) {
    if (node.level == kBlockLevel) blocks_.push_back(subtree);
  }
}

void LogAuditor::AddFinding(std::string finding) {
  ++finding_count_;
  if (findings_.size() < kMaxFindingsKept) {
    findings_.push_back(std::move(finding));
  }
}

absl::StatusOr<std::pair<v1::StationProtocol, bool>> LogAuditor::Previous(
    const Counted& counted, const v1::StationProtocol& current) {
  std::pair<v1::StationProtocol, bool> previous;
  if (counted.in_arena) {
    if (!previous.first.ParseFromArray(arena_.data() + counted.offset,
                                       static_cast<int>(counted.length))) {
      return absl::InternalError("cannot read back a counted protocol");
    }
    previous.second = counted.anomalies;
    return previous;
  }
  // Counted before the restored state: read the leaf again.
  if (!leaf_reader_) {
    return absl::FailedPreconditionError("no way to read earlier leaves");
  }
  absl::StatusOr<std::string> data = leaf_reader_(counted.leaf_index);
  if (!data.ok()) return data.status();
  absl::StatusOr<v1::LogEntry> entry = transparency::ParseLeafData(*data);
  if (!entry.ok()) return entry.status();
  const v1::StationProtocol& protocol = entry->protocol();
  if (protocol.contest_id() != current.contest_id() ||
      protocol.station_id() != current.station_id() ||
      protocol.version() != counted.version) {
    return absl::DataLossError(absl::StrCat(
        "leaf ", counted.leaf_index, " holds contest ", protocol.contest_id(),
        " station ", protocol.station_id(), " version ", protocol.version(),
        ", not the counted version ", counted.version));
  }
  previous.second = ValidateProtocol(index_, protocol).has_anomalies();
  previous.first = protocol;
  return previous;
}

void LogAuditor::Add(PreparedLeaf leaf) {
  const uint64_t leaf_index = frontier_.size();
  AppendHash(leaf.hash);
  ++added_;
  if (!leaf.parsed) {
    for (std::string& problem : leaf.problems) {
      AddFinding(absl::StrCat("leaf ", leaf_index, ": ", problem));
    }
    return;
  }
  const v1::LogEntry& entry = leaf.entry;
  const std::string where = Where(leaf_index, entry);
  for (std::string& problem : leaf.problems) {
    AddFinding(absl::StrCat(where, ": ", problem));
  }
  if (entry.revision() < last_revision_) {
    AddFinding(absl::StrCat(where, ": comes after a leaf of revision ",
                            last_revision_,
                            ": the log is not in commit order"));
  } else if (restored_revision_ > 0 && entry.revision() <= restored_revision_) {
    AddFinding(absl::StrCat(where,
                            ": is not part of the audited head of revision ",
                            restored_revision_, ", yet its revision is"));
  }
  if (open_revision_.has_value() && entry.revision() != *open_revision_) {
    book_.StampChanged(*open_revision_);
    book_.TakeChanged();
    open_revision_.reset();
  }
  last_revision_ = std::max(last_revision_, entry.revision());

  auto [sequence, fresh] = sequences_.try_emplace(entry.collector_id(), 0);
  if (!fresh && entry.collector_seq() <= sequence->second) {
    AddFinding(absl::StrCat(where, ": sequence ", entry.collector_seq(),
                            " of collector ", entry.collector_id(),
                            " comes after its sequence ", sequence->second,
                            ": an outbox entry was applied twice"));
  }
  sequence->second = std::max(sequence->second, entry.collector_seq());

  const v1::StationProtocol& protocol = entry.protocol();
  const ContestInfo* contest = index_.FindContest(protocol.contest_id());
  if (contest == nullptr ||
      index_.FindStation(protocol.station_id()) == nullptr) {
    return;  // validation named it; nothing to count
  }
  const Key key{contest->index, protocol.station_id()};
  std::pair<v1::StationProtocol, bool> previous;
  bool has_previous = false;
  if (auto it = counted_.find(key); it != counted_.end()) {
    const Counted& counted = it->second;
    if (protocol.version() <= counted.version) {
      AddFinding(
          absl::StrCat(where, ": does not supersede the counted version ",
                       counted.version, " (leaf ", counted.leaf_index, ")"));
    }
    absl::StatusOr<std::pair<v1::StationProtocol, bool>> read =
        Previous(counted, protocol);
    if (!read.ok()) {
      AddFinding(absl::StrCat(where, ": cannot read the counted version ",
                              counted.version, " it replaces (leaf ",
                              counted.leaf_index,
                              "): ", read.status().message()));
      return;
    }
    previous = *std::move(read);
    has_previous = true;
    ++corrections_;
  }
  open_revision_ = entry.revision();
  book_.Apply(has_previous ? &previous.first : nullptr, previous.second,
              protocol, leaf.anomalies);

  Counted& counted = counted_[key];
  counted.leaf_index = leaf_index;
  counted.version = protocol.version();
  counted.anomalies = leaf.anomalies;
  counted.in_arena = true;
  counted.offset = arena_.size();
  protocol.AppendToString(&arena_);
  counted.length = static_cast<uint32_t>(arena_.size() - counted.offset);
}

void LogAuditor::Finish() {
  if (open_revision_.has_value()) {
    book_.StampChanged(*open_revision_);
    book_.TakeChanged();
    open_revision_.reset();
  }
}

std::vector<v1::Totals> LogAuditor::Totals() const {
  std::vector<v1::Totals> totals;
  totals.reserve(book_.size());
  for (uint32_t entry = 0; entry < book_.size(); ++entry) {
    totals.push_back(book_.ToProto(entry));
  }
  return totals;
}

Hash LogAuditor::TotalsDigest() const {
  return transparency::TotalsDigest(Totals());
}

std::vector<v1::SeatAllocation> LogAuditor::Allocations() const {
  std::vector<v1::SeatAllocation> allocations;
  for (const ContestInfo& contest : index_.contests()) {
    allocations.push_back(
        PublishedAllocation(*contest.contest, index_.definition().validation(),
                            book_.ToProto(book_.ContestEntry(contest.index))));
  }
  return allocations;
}

absl::StatusOr<Hash> LogAuditor::BlockPrefixRoot(uint64_t blocks) const {
  if (blocks == 0 || blocks > blocks_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("no prefix of ", blocks,
                                                   " blocks: ", blocks_.size(),
                                                   " complete blocks audited"));
  }
  // Block roots are complete subtrees, so the tree over them has the shape
  // of the leaves' tree cut at the block level.
  transparency::MerkleFrontier prefix;
  for (uint64_t i = 0; i < blocks; ++i) prefix.Append(blocks_[i]);
  return prefix.Root();
}

v1::AuditState LogAuditor::State(const v1::SignedTreeHead& head,
                                 const std::string& definition_digest) const {
  v1::AuditState state;
  *state.mutable_head() = head;
  for (const Hash& hash : frontier_.hashes()) {
    state.add_frontier(transparency::HashBytes(hash));
  }
  for (const Hash& hash : blocks_) {
    state.add_block_hashes(transparency::HashBytes(hash));
  }
  state.set_definition_digest(definition_digest);
  std::vector<std::pair<Key, const Counted*>> counted;
  counted.reserve(counted_.size());
  for (const auto& [key, value] : counted_) counted.emplace_back(key, &value);
  std::sort(counted.begin(), counted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [key, value] : counted) {
    v1::AuditedProtocol* protocol = state.add_protocols();
    protocol->set_contest_id(index_.contests()[key.first].contest->id());
    protocol->set_station_id(key.second);
    protocol->set_version(value->version);
    protocol->set_leaf_index(value->leaf_index);
  }
  for (v1::Totals& totals : Totals()) *state.add_totals() = std::move(totals);
  for (const auto& [collector, sequence] : sequences_) {
    (*state.mutable_collector_sequences())[collector] = sequence;
  }
  return state;
}

}  // namespace tally::audit
