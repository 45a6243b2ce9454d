// Proof generation follows RFC 9162's recursive definitions (PATH and
// SUBPROOF in section 2.1.3.1 and 2.1.4.1), unrolled: each step of the
// recursion contributes the hash of one range of leaves [lo, hi). A range
// met in that recursion always starts at a multiple of the largest power
// of two not above its length, so it is the fold of the complete subtrees
// given by the binary digits of its length, largest first:
//
//   MTH([a, b)) = node(a, 2^p) if b - a == 2^p, else
//                 HASH(node(a, 2^p), MTH([a + 2^p, b))),  2^p < b - a maximal
//
// The ranges of one proof share those subtrees (the ranges on the right
// edge are suffixes of one another), so a proof reads O(log n) distinct
// nodes, fetched in one ReadNodes call.
#include "services/transparency/merkle.h"

#include <algorithm>
#include <bit>

#include "absl/strings/str_cat.h"
#include "services/domain/protocol_digest.h"

namespace tally::transparency {
namespace {

absl::string_view View(const Hash& hash) {
  return absl::string_view(reinterpret_cast<const char*>(hash.data()),
                           hash.size());
}

// The complete subtrees whose fold is MTH([a, b)); Internal when [a, b) is
// not a range the RFC recursion produces (callers only pass those).
absl::Status AppendRangeNodes(uint64_t a, uint64_t b,
                              std::vector<NodeId>* out) {
  while (a < b) {
    const uint64_t k = std::bit_floor(b - a);
    const int level = std::countr_zero(k);
    if (a % k != 0) {
      return absl::InternalError(
          absl::StrCat("Merkle range [", a, ", ", b, ") is not aligned"));
    }
    out->push_back(NodeId{static_cast<uint8_t>(level), a >> level});
    a += k;
  }
  return absl::OkStatus();
}

struct Range {
  uint64_t begin;
  uint64_t end;
};

// Reads every node the ranges need once and folds each range.
absl::StatusOr<std::vector<Hash>> HashRanges(NodeReader& reader,
                                             const std::vector<Range>& ranges) {
  std::vector<NodeId> nodes;
  for (const Range& range : ranges) {
    absl::Status status = AppendRangeNodes(range.begin, range.end, &nodes);
    if (!status.ok()) return status;
  }
  std::vector<NodeId> unique = nodes;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<Hash> hashes;
  if (!unique.empty()) {
    absl::Status status = reader.ReadNodes(unique, &hashes);
    if (!status.ok()) return status;
    if (hashes.size() != unique.size()) {
      return absl::InternalError(absl::StrCat("node reader returned ",
                                              hashes.size(), " hashes for ",
                                              unique.size(), " nodes"));
    }
  }
  auto hash_of = [&](const NodeId& node) -> const Hash& {
    return hashes[std::lower_bound(unique.begin(), unique.end(), node) -
                  unique.begin()];
  };
  std::vector<Hash> out;
  out.reserve(ranges.size());
  std::vector<NodeId> parts;
  for (const Range& range : ranges) {
    parts.clear();
    // Cannot fail: the same ranges were decomposed above.
    (void)AppendRangeNodes(range.begin, range.end, &parts);
    Hash hash = hash_of(parts.back());
    for (size_t i = parts.size() - 1; i-- > 0;) {
      hash = HashChildren(hash_of(parts[i]), hash);
    }
    out.push_back(hash);
  }
  return out;
}

}  // namespace

Hash HashLeaf(absl::string_view leaf_data) {
  static constexpr char kLeafPrefix[1] = {0x00};
  Hash out;
  Sha256Parts({absl::string_view(kLeafPrefix, 1), leaf_data}, out.data());
  return out;
}

Hash HashChildren(const Hash& left, const Hash& right) {
  static constexpr char kNodePrefix[1] = {0x01};
  Hash out;
  Sha256Parts({absl::string_view(kNodePrefix, 1), View(left), View(right)},
              out.data());
  return out;
}

Hash EmptyRoot() {
  Hash out;
  Sha256Parts({}, out.data());
  return out;
}

absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes,
                                   absl::string_view what) {
  Hash hash;
  if (bytes.size() != hash.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " has ", bytes.size(), " bytes; a SHA-256 hash has 32"));
  }
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

std::string HashBytes(const Hash& hash) { return std::string(View(hash)); }

std::string HashHex(const Hash& hash) { return HexEncode(HashBytes(hash)); }

std::vector<NodeId> RootNodes(uint64_t size) {
  return MerkleFrontier::FrontierNodes(size);
}

absl::StatusOr<Hash> RootHash(NodeReader& reader, uint64_t size) {
  if (size == 0) return EmptyRoot();
  absl::StatusOr<std::vector<Hash>> hashes =
      HashRanges(reader, {Range{0, size}});
  if (!hashes.ok()) return hashes.status();
  return hashes->front();
}

absl::StatusOr<std::vector<Hash>> InclusionProof(NodeReader& reader,
                                                 uint64_t index,
                                                 uint64_t size) {
  if (index >= size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaf index ", index, " is not below the tree size ", size));
  }
  // PATH(m, D[lo:hi]): the sibling range of each step, root side first.
  std::vector<Range> ranges;
  uint64_t lo = 0;
  uint64_t hi = size;
  while (hi - lo > 1) {
    const uint64_t k = std::bit_floor(hi - lo - 1);
    if (index - lo < k) {
      ranges.push_back(Range{lo + k, hi});
      hi = lo + k;
    } else {
      ranges.push_back(Range{lo, lo + k});
      lo += k;
    }
  }
  std::reverse(ranges.begin(), ranges.end());
  return HashRanges(reader, ranges);
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(NodeReader& reader,
                                                   uint64_t first,
                                                   uint64_t second) {
  if (first > second) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency from tree size ", first,
                     " to the smaller size ", second, " is undefined"));
  }
  if (first == 0 || first == second) return std::vector<Hash>();
  // SUBPROOF(m, D[lo:hi], b), root side first.
  std::vector<Range> ranges;
  uint64_t lo = 0;
  uint64_t hi = second;
  uint64_t m = first;
  bool complete = true;  // b: the old tree is a complete left part
  while (true) {
    if (m == hi - lo) {
      if (!complete) ranges.push_back(Range{lo, hi});
      break;
    }
    const uint64_t k = std::bit_floor(hi - lo - 1);
    if (m <= k) {
      ranges.push_back(Range{lo + k, hi});
      hi = lo + k;
    } else {
      ranges.push_back(Range{lo, lo + k});
      lo += k;
      m -= k;
      complete = false;
    }
  }
  std::reverse(ranges.begin(), ranges.end());
  return HashRanges(reader, ranges);
}

absl::StatusOr<Hash> RootFromInclusionProof(uint64_t index, uint64_t size,
                                            const Hash& leaf_hash,
                                            absl::Span<const Hash> proof) {
  if (index >= size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaf index ", index, " is not below the tree size ", size));
  }
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("inclusion proof of leaf ", index, " in tree size ",
                       size, " is too long (", proof.size(), " hashes)"));
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = HashChildren(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("inclusion proof of leaf ", index, " in tree size ", size,
                     " is too short (", proof.size(), " hashes)"));
  }
  return r;
}

absl::Status VerifyInclusion(uint64_t index, uint64_t size,
                             const Hash& leaf_hash,
                             absl::Span<const Hash> proof, const Hash& root) {
  absl::StatusOr<Hash> computed =
      RootFromInclusionProof(index, size, leaf_hash, proof);
  if (!computed.ok()) return computed.status();
  if (*computed != root) {
    return absl::FailedPreconditionError(
        absl::StrCat("inclusion proof of leaf ", index, " leads to root ",
                     HashHex(*computed), ", not to the root ", HashHex(root),
                     " of tree size ", size));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t first, uint64_t second,
                               const Hash& first_root, const Hash& second_root,
                               absl::Span<const Hash> proof) {
  if (first > second) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency from tree size ", first,
                     " to the smaller size ", second, " is undefined"));
  }
  if (first == second || first == 0) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "consistency proof from tree size ", first, " to ", second,
          " must be empty; it has ", proof.size(), " hashes"));
    }
    const Hash expected = first == 0 ? EmptyRoot() : second_root;
    if (first_root != expected) {
      return absl::FailedPreconditionError(
          absl::StrCat("tree size ", first, " has two different roots: ",
                       HashHex(first_root), " and ", HashHex(expected)));
    }
    return absl::OkStatus();
  }
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(first)) path.push_back(first_root);
  path.insert(path.end(), proof.begin(), proof.end());
  auto bad_length = [&](absl::string_view how) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof from tree size ", first, " to ", second,
                     " is ", how, " (", proof.size(), " hashes)"));
  };
  if (path.empty()) return bad_length("too short");
  uint64_t fn = first - 1;
  uint64_t sn = second - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return bad_length("too long");
    if ((fn & 1) != 0 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return bad_length("too short");
  if (fr != first_root) {
    return absl::FailedPreconditionError(absl::StrCat(
        "consistency proof leads to root ", HashHex(fr), " for tree size ",
        first, ", not to its root ", HashHex(first_root)));
  }
  if (sr != second_root) {
    return absl::FailedPreconditionError(absl::StrCat(
        "consistency proof leads to root ", HashHex(sr), " for tree size ",
        second, ", not to its root ", HashHex(second_root)));
  }
  return absl::OkStatus();
}

std::vector<NodeId> MerkleFrontier::FrontierNodes(uint64_t size) {
  std::vector<NodeId> nodes;
  for (int level = 63; level >= 0; --level) {
    if (((size >> level) & 1) != 0) {
      nodes.push_back(NodeId{static_cast<uint8_t>(level), (size >> level) - 1});
    }
  }
  return nodes;
}

absl::StatusOr<MerkleFrontier> MerkleFrontier::FromNodes(
    uint64_t size, std::vector<Hash> hashes) {
  const size_t expected = static_cast<size_t>(std::popcount(size));
  if (hashes.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("a Merkle frontier of tree size ", size, " has ", expected,
                     " hashes, not ", hashes.size()));
  }
  MerkleFrontier frontier;
  frontier.size_ = size;
  frontier.hashes_ = std::move(hashes);
  return frontier;
}

absl::StatusOr<MerkleFrontier> MerkleFrontier::Load(NodeReader& reader,
                                                    uint64_t size) {
  const std::vector<NodeId> nodes = FrontierNodes(size);
  std::vector<Hash> hashes;
  if (!nodes.empty()) {
    absl::Status status = reader.ReadNodes(nodes, &hashes);
    if (!status.ok()) return status;
  }
  return FromNodes(size, std::move(hashes));
}

void MerkleFrontier::Append(const Hash& leaf_hash,
                            std::vector<std::pair<NodeId, Hash>>* new_nodes) {
  if (new_nodes != nullptr) {
    new_nodes->emplace_back(NodeId{0, size_}, leaf_hash);
  }
  Hash hash = leaf_hash;
  uint8_t level = 0;
  // Each set low bit of the old size is a complete subtree that the new
  // one joins: merge while the carry propagates.
  while (((size_ >> level) & 1) != 0) {
    hash = HashChildren(hashes_.back(), hash);
    hashes_.pop_back();
    ++level;
    if (new_nodes != nullptr) {
      new_nodes->emplace_back(NodeId{level, ((size_ + 1) >> level) - 1}, hash);
    }
  }
  hashes_.push_back(hash);
  ++size_;
}

Hash MerkleFrontier::Root() const {
  if (hashes_.empty()) return EmptyRoot();
  Hash hash = hashes_.back();
  for (size_t i = hashes_.size() - 1; i-- > 0;) {
    hash = HashChildren(hashes_[i], hash);
  }
  return hash;
}

void MemoryTree::Append(const Hash& leaf_hash) {
  std::vector<std::pair<NodeId, Hash>> nodes;
  frontier_.Append(leaf_hash, &nodes);
  for (const auto& [node, hash] : nodes) {
    if (levels_.size() <= node.level) levels_.resize(node.level + 1);
    levels_[node.level].push_back(hash);
  }
}

absl::Status MemoryTree::ReadNodes(absl::Span<const NodeId> nodes,
                                   std::vector<Hash>* hashes) {
  hashes->clear();
  hashes->reserve(nodes.size());
  for (const NodeId& node : nodes) {
    if (node.level >= levels_.size() ||
        node.index >= levels_[node.level].size()) {
      return absl::DataLossError(absl::StrCat(
          "no Merkle node at level ", node.level, " index ", node.index));
    }
    hashes->push_back(levels_[node.level][node.index]);
  }
  nodes_read_ += nodes.size();
  return absl::OkStatus();
}

}  // namespace tally::transparency
