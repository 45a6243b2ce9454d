// The writing side of the transparency log, as the aggregator's committer
// uses it for each round: every accepted protocol version becomes a leaf
// (LogEntry serialized), every subtree the leaves complete is reported for
// the store, and the revision gets its signed tree head, binding the new
// root, the digest of every total and the definition's digest.
//
// The committer adds everything a round produces (RoundLog) to the round's
// WriteBatch, so the tree, the heads and the totals are durable together.
// The appender is in-memory state like the totals: when a round cannot be
// written, its owner makes a new one from the store (the aggregator's
// AggregatorState::Rebuild).
//
// Deterministic: the same rounds (the same entries, revisions, times and
// totals) and the same key give byte-identical leaves and heads on every
// replica. Not thread-safe: one owner (the committer, under its lock).
#ifndef TALLY_SERVICES_TRANSPARENCY_LOG_APPENDER_H_
#define TALLY_SERVICES_TRANSPARENCY_LOG_APPENDER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "google/protobuf/timestamp.pb.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/merkle.h"
#include "services/transparency/totals_digest.h"
#include "tally/v1/log.pb.h"
#include "tally/v1/results.pb.h"

namespace tally::transparency {

// What one round adds to the log.
struct RoundLog {
  // Index of leaves[0].
  uint64_t first_leaf = 0;
  // Leaf data, in commit order.
  std::vector<std::string> leaves;
  // Every complete subtree the leaves completed, with its hash.
  std::vector<std::pair<NodeId, Hash>> nodes;
  // The revision's signed head (set by Seal).
  v1::SignedTreeHead head;
};

class LogAppender {
 public:
  // The log as stored: its frontier (the tree's size and right edge) and
  // every (contest, scope) total at its last revision. `definition_digest`
  // is the 32-byte SHA-256 of the definition's deterministic encoding.
  LogAppender(Ed25519PrivateKey key, std::string definition_digest,
              MerkleFrontier frontier, absl::Span<const v1::Totals> totals);

  uint64_t size() const { return frontier_.size(); }
  Hash root() const { return frontier_.Root(); }
  const Ed25519PrivateKey& key() const { return key_; }
  const MerkleFrontier& frontier() const { return frontier_; }
  // The digest of every total as set so far (what Seal would sign).
  Hash TotalsDigest() const { return digester_.Digest(); }
  const std::string& definition_digest() const { return definition_digest_; }

  // Appends one accepted version to the tree and to `round`.
  void AddLeaf(const v1::LogEntry& entry, RoundLog* round);
  // Records the new value of a total the round changed.
  void SetTotals(const v1::Totals& totals) { digester_.Set(totals); }
  // The signed head of `revision`, made at `timestamp` (the round's time),
  // over the tree as it is now; stored in round->head and returned.
  absl::StatusOr<v1::SignedTreeHead> Seal(
      uint64_t revision, const google::protobuf::Timestamp& timestamp,
      RoundLog* round);

 private:
  const Ed25519PrivateKey key_;
  const std::string definition_digest_;
  MerkleFrontier frontier_;
  TotalsDigester digester_;
};

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_LOG_APPENDER_H_
