// The auditor's recomputation: replays the transparency log's leaves, in
// order, through the domain library (protocol digests, validation,
// TotalsBook, seat allocation), rebuilding the Merkle root, every total and
// every seat allocation from nothing but the leaves and the election
// definition, so that they can be compared with what the aggregator signed
// and publishes. No I/O: the caller (tallyctl audit) fetches leaves and
// heads and compares.
//
// What is checked per leaf, each failure a finding naming the leaf:
//   - the leaf data is the canonical encoding of a LogEntry;
//   - its protocol's digest is the SHA-256 of its content;
//   - the protocol passes validation against the definition (an accepted
//     protocol that should have been refused is named with the rule);
//   - revisions never decrease, and new leaves come after the audited head;
//   - each collector's sequences strictly increase (every outbox entry is
//     applied once);
//   - a protocol's versions strictly increase along the log.
// Totals follow the aggregator's rule exactly: a new version replaces the
// counted one (new minus old), with its anomaly flag from validation, and
// an entry's revision is the revision of the last leaf that touched it.
//
// Memory: one record per counted protocol, its content kept (compactly)
// only for protocols counted during this run; a correction of a protocol
// counted before a restored state reads the old leaf back through the
// LeafReader (which must verify it against the audited tree).
//
// Threading: Prepare is a pure function, safe on any thread at once (the
// caller may prepare leaves in parallel); everything else is one owner's.
#ifndef TALLY_CLIENTS_AUDIT_LOG_AUDITOR_H_
#define TALLY_CLIENTS_AUDIT_LOG_AUDITOR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/domain/election_index.h"
#include "services/domain/totals_book.h"
#include "services/transparency/merkle.h"
#include "tally/v1/log.pb.h"

namespace tally::audit {

// Leaves per block whose root the auditor keeps (a level-8 subtree).
inline constexpr uint64_t kBlockLeaves = 256;

// One leaf checked on its own (needs no state).
struct PreparedLeaf {
  transparency::Hash hash{};
  bool parsed = false;
  v1::LogEntry entry;
  // Flagged by validation (counted with an anomaly).
  bool anomalies = false;
  // What is wrong with the leaf by itself.
  std::vector<std::string> problems;
};

class LogAuditor {
 public:
  // Reads leaf `index` again and returns its data, verified against the
  // audited tree (an inclusion proof), or an error.
  using LeafReader = std::function<absl::StatusOr<std::string>(uint64_t)>;

  // `index` must outlive the auditor.
  explicit LogAuditor(const ElectionIndex& index);
  LogAuditor(const LogAuditor&) = delete;
  LogAuditor& operator=(const LogAuditor&) = delete;

  // Continues from an earlier audit. InvalidArgument when the state does
  // not fit the definition (unknown contests, totals of scopes the
  // definition does not have, a frontier of the wrong length).
  absl::Status Restore(const v1::AuditState& state);
  void set_leaf_reader(LeafReader reader) { leaf_reader_ = std::move(reader); }

  // Parses and checks one leaf. Pure.
  static PreparedLeaf Prepare(const ElectionIndex& index,
                              absl::string_view leaf_data);
  // Appends the next leaf (index size()) and counts its protocol.
  void Add(PreparedLeaf leaf);
  void AddLeaf(absl::string_view leaf_data) { Add(Prepare(index_, leaf_data)); }
  // Stamps the revision of the last leaves' totals. Call once, after the
  // last leaf and before reading results.
  void Finish();

  // Leaves so far (restored ones included) and their Merkle root.
  uint64_t size() const { return frontier_.size(); }
  transparency::Hash Root() const { return frontier_.Root(); }
  // The revision of the last leaf (or of the restored head).
  uint64_t last_revision() const { return last_revision_; }
  // Leaves added by this run, and corrections among them.
  uint64_t added() const { return added_; }
  uint64_t corrections() const { return corrections_; }

  // Every (contest, scope) total, in the aggregator's entry order.
  std::vector<v1::Totals> Totals() const;
  transparency::Hash TotalsDigest() const;
  // The published allocation of every contest, in definition order.
  std::vector<v1::SeatAllocation> Allocations() const;
  // The Merkle root of the first `blocks` complete blocks of kBlockLeaves
  // leaves (blocks <= size() / kBlockLeaves).
  absl::StatusOr<transparency::Hash> BlockPrefixRoot(uint64_t blocks) const;

  // Findings so far: the first `kMaxFindingsKept` texts and the count.
  static constexpr size_t kMaxFindingsKept = 200;
  void AddFinding(std::string finding);
  const std::vector<std::string>& findings() const { return findings_; }
  uint64_t finding_count() const { return finding_count_; }

  // The state to continue from next time, at `head` (whose tree size must
  // be size()).
  v1::AuditState State(const v1::SignedTreeHead& head,
                       const std::string& definition_digest) const;

 private:
  // The counted version of one (contest, station).
  struct Counted {
    uint64_t leaf_index = 0;
    uint32_t version = 0;
    bool anomalies = false;
    // The protocol's serialization in arena_, when counted in this run.
    bool in_arena = false;
    uint64_t offset = 0;
    uint32_t length = 0;
  };
  using Key = std::pair<uint32_t, uint32_t>;  // contest position, station

  std::string Where(uint64_t leaf_index, const v1::LogEntry& entry) const;
  // The previous counted version's protocol and anomaly flag.
  absl::StatusOr<std::pair<v1::StationProtocol, bool>> Previous(
      const Counted& counted, const v1::StationProtocol& current);
  void AppendHash(const transparency::Hash& hash);

  const ElectionIndex& index_;
  TotalsBook book_;
  transparency::MerkleFrontier frontier_;
  // Roots of complete blocks, and a tree over them for prefix roots.
  std::vector<transparency::Hash> blocks_;
  absl::flat_hash_map<Key, Counted> counted_;
  std::string arena_;
  absl::flat_hash_map<std::string, uint64_t> sequences_;
  LeafReader leaf_reader_;
  uint64_t restored_revision_ = 0;
  uint64_t last_revision_ = 0;
  // Revision whose touched totals are not stamped yet.
  std::optional<uint64_t> open_revision_;
  // Reused by AppendHash.
  std::vector<std::pair<transparency::NodeId, transparency::Hash>> new_nodes_;
  uint64_t added_ = 0;
  uint64_t corrections_ = 0;
  std::vector<std::string> findings_;
  uint64_t finding_count_ = 0;
};

}  // namespace tally::audit

#endif  // TALLY_CLIENTS_AUDIT_LOG_AUDITOR_H_
