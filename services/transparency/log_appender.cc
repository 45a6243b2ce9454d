#include "services/transparency/log_appender.h"

#include "services/transparency/log_entry.h"
#include "services/transparency/tree_head.h"

namespace tally::transparency {

LogAppender::LogAppender(Ed25519PrivateKey key, std::string definition_digest,
                         MerkleFrontier frontier,
                         absl::Span<const v1::Totals> totals)
    : key_(std::move(key)),
      definition_digest_(std::move(definition_digest)),
      frontier_(std::move(frontier)) {
  for (const v1::Totals& entry : totals) digester_.Set(entry);
}

void LogAppender::AddLeaf(const v1::LogEntry& entry, RoundLog* round) {
  if (round->leaves.empty()) round->first_leaf = frontier_.size();
  round->leaves.push_back(LeafData(entry));
  frontier_.Append(HashLeaf(round->leaves.back()), &round->nodes);
}

absl::StatusOr<v1::SignedTreeHead> LogAppender::Seal(
    uint64_t revision, const google::protobuf::Timestamp& timestamp,
    RoundLog* round) {
  if (round->leaves.empty()) round->first_leaf = frontier_.size();
  v1::TreeHead head;
  head.set_revision(revision);
  head.set_tree_size(frontier_.size());
  head.set_root_hash(HashBytes(frontier_.Root()));
  head.set_totals_digest(HashBytes(digester_.Digest()));
  head.set_definition_digest(definition_digest_);
  *head.mutable_timestamp() = timestamp;
  absl::StatusOr<v1::SignedTreeHead> signed_head = SignTreeHead(head, key_);
  if (!signed_head.ok()) return signed_head.status();
  round->head = *signed_head;
  return signed_head;
}

}  // namespace tally::transparency
