// The Merkle tree of the transparency log, hashed as RFC 9162 section 2.1
// says: a leaf is SHA-256(0x00 || leaf_data), an interior node
// SHA-256(0x01 || left || right), the empty tree SHA-256(""), and a tree of
// n > 1 leaves splits at k, the largest power of two below n.
//
// Storage works in complete subtrees: NodeId{level, index} is the subtree
// of the 2^level leaves [index * 2^level, (index + 1) * 2^level). Every
// hash a proof or root needs is a fold of such nodes, so a store that keeps
// the hash of every complete subtree (2n - popcount(n) of them for n
// leaves) answers a root, an inclusion proof or a consistency proof with
// O(log n) reads, in one batch (NodeReader::ReadNodes).
//
// Everything here is pure and thread-compatible: no shared state, any
// thread may call any function; a NodeReader is used by one call at a time
// unless its implementation says otherwise.
#ifndef TALLY_SERVICES_TRANSPARENCY_MERKLE_H_
#define TALLY_SERVICES_TRANSPARENCY_MERKLE_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tally::transparency {

// A SHA-256 value: a leaf, node or root hash.
using Hash = std::array<uint8_t, 32>;

// SHA-256(0x00 || leaf_data).
Hash HashLeaf(absl::string_view leaf_data);
// SHA-256(0x01 || left || right).
Hash HashChildren(const Hash& left, const Hash& right);
// The root of the empty tree: SHA-256 of no bytes.
Hash EmptyRoot();

// Raw bytes <-> Hash; InvalidArgument naming `what` when not 32 bytes.
absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes,
                                   absl::string_view what);
std::string HashBytes(const Hash& hash);
// Lowercase hex, 64 characters.
std::string HashHex(const Hash& hash);

// The complete subtree of the 2^level leaves starting at index * 2^level.
// Level 0 is a leaf hash.
struct NodeId {
  uint8_t level = 0;
  uint64_t index = 0;
  friend bool operator==(const NodeId&, const NodeId&) = default;
  friend bool operator<(const NodeId& a, const NodeId& b) {
    return a.level != b.level ? a.level < b.level : a.index < b.index;
  }
};

// Supplies hashes of complete subtrees (a store, or a tree in memory).
class NodeReader {
 public:
  virtual ~NodeReader() = default;
  // Sets (*hashes)[i] to the hash of nodes[i] for every i (resizing
  // `hashes`). Every node asked for lies within a tree size the caller was
  // given, so a missing node is corruption: DataLoss naming it.
  virtual absl::Status ReadNodes(absl::Span<const NodeId> nodes,
                                 std::vector<Hash>* hashes) = 0;
};

// The root of the first `size` leaves (EmptyRoot() for 0).
absl::StatusOr<Hash> RootHash(NodeReader& reader, uint64_t size);

// RFC 9162 PATH(index, D[0:size]): sibling hashes from the leaf upward.
// InvalidArgument when index >= size.
absl::StatusOr<std::vector<Hash>> InclusionProof(NodeReader& reader,
                                                 uint64_t index, uint64_t size);

// RFC 9162 PROOF(first, D[0:second]). Empty when first == second or first
// == 0 (every tree extends the empty one). InvalidArgument when first >
// second.
absl::StatusOr<std::vector<Hash>> ConsistencyProof(NodeReader& reader,
                                                   uint64_t first,
                                                   uint64_t second);

// The nodes RootHash, InclusionProof and ConsistencyProof read, each once
// (exposed for stores that prefetch, and for tests of the O(log n) bound).
std::vector<NodeId> RootNodes(uint64_t size);

// RFC 9162 section 2.1.3.2. OK when `proof` proves the leaf with hash
// `leaf_hash` at `index` in the tree of `size` leaves with root `root`;
// otherwise InvalidArgument (malformed: wrong length) or FailedPrecondition
// (the hashes do not lead to the root), saying which.
absl::Status VerifyInclusion(uint64_t index, uint64_t size,
                             const Hash& leaf_hash,
                             absl::Span<const Hash> proof, const Hash& root);
// The root an inclusion proof leads to; InvalidArgument when the proof has
// the wrong length for (index, size).
absl::StatusOr<Hash> RootFromInclusionProof(uint64_t index, uint64_t size,
                                            const Hash& leaf_hash,
                                            absl::Span<const Hash> proof);

// RFC 9162 section 2.1.4.2, plus the trivial cases: first == second needs
// an empty proof and equal roots; first == 0 needs an empty proof and the
// empty root. Errors as for VerifyInclusion.
absl::Status VerifyConsistency(uint64_t first, uint64_t second,
                               const Hash& first_root, const Hash& second_root,
                               absl::Span<const Hash> proof);

// The right edge of a tree: one complete subtree per set bit of the size,
// largest (leftmost) first. Enough to append leaves and compute the root
// without the rest of the tree (RFC 9162's "Merkle tree frontier"; what
// the aggregator keeps in memory and an auditor keeps between runs).
class MerkleFrontier {
 public:
  MerkleFrontier() = default;
  // From stored hashes: the nodes FrontierNodes(size) names, in that order.
  // InvalidArgument when the count does not match.
  static absl::StatusOr<MerkleFrontier> FromNodes(uint64_t size,
                                                  std::vector<Hash> hashes);
  // Reads FrontierNodes(size) from `reader`.
  static absl::StatusOr<MerkleFrontier> Load(NodeReader& reader, uint64_t size);
  // The complete subtrees forming the edge of a tree of `size` leaves.
  static std::vector<NodeId> FrontierNodes(uint64_t size);

  uint64_t size() const { return size_; }
  // The hashes of FrontierNodes(size()), in order.
  const std::vector<Hash>& hashes() const { return hashes_; }

  // Appends a leaf (its hash). When `new_nodes` is not null, appends every
  // complete subtree the leaf completes, the leaf itself first (level 0),
  // then each parent up to the largest.
  void Append(const Hash& leaf_hash,
              std::vector<std::pair<NodeId, Hash>>* new_nodes = nullptr);
  // The root of the leaves appended so far.
  Hash Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> hashes_;
};

// Every complete subtree of a tree, in memory: the reference NodeReader
// for tests and for tools that hold a whole (small) log.
class MemoryTree : public NodeReader {
 public:
  void Append(const Hash& leaf_hash);
  void AppendLeaf(absl::string_view leaf_data) { Append(HashLeaf(leaf_data)); }
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  Hash Root() const { return frontier_.Root(); }
  absl::Status ReadNodes(absl::Span<const NodeId> nodes,
                         std::vector<Hash>* hashes) override;
  // Nodes read so far (to check the O(log n) bound in tests).
  uint64_t nodes_read() const { return nodes_read_; }

 private:
  std::vector<std::vector<Hash>> levels_;
  MerkleFrontier frontier_;
  uint64_t nodes_read_ = 0;
};

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_MERKLE_H_
