// The Merkle tree of the transparency log: RFC 6962/9162 reference vectors,
// proofs from stored subtrees with O(log n) reads, the frontier, and the
// verifiers' refusals. Every size 1..300 is also cross-checked against an
// independent Python implementation (verify_vectors.py, ctest
// transparency_vectors).
#include "services/transparency/merkle.h"

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tally::transparency {
namespace {

using ::testing::HasSubstr;

Hash FromHex(const std::string& hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  Hash hash{};
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

std::vector<Hash> FromHexList(const std::vector<std::string>& list) {
  std::vector<Hash> out;
  for (const std::string& hex : list) out.push_back(FromHex(hex));
  return out;
}

// The leaves and roots of RFC 6962's reference tests (Certificate
// Transparency's merkle tree test data), for sizes 0..8.
const std::vector<std::string>& ReferenceLeaves() {
  static const auto* leaves = new std::vector<std::string>{
      "",
      absl::HexStringToBytes("00"),
      absl::HexStringToBytes("10"),
      absl::HexStringToBytes("2021"),
      absl::HexStringToBytes("3031"),
      absl::HexStringToBytes("40414243"),
      absl::HexStringToBytes("5051525354555657"),
      absl::HexStringToBytes("606162636465666768696a6b6c6d6e6f")};
  return *leaves;
}

const char* const kReferenceRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

MemoryTree ReferenceTree() {
  MemoryTree tree;
  for (const std::string& leaf : ReferenceLeaves()) tree.AppendLeaf(leaf);
  return tree;
}

TEST(MerkleTest, RootsMatchTheReferenceVectors) {
  EXPECT_EQ(HashHex(EmptyRoot()), kReferenceRoots[0]);
  MemoryTree tree = ReferenceTree();
  MerkleFrontier frontier;
  EXPECT_EQ(HashHex(frontier.Root()), kReferenceRoots[0]);
  for (uint64_t size = 0; size <= 8; ++size) {
    absl::StatusOr<Hash> root = RootHash(tree, size);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(HashHex(*root), kReferenceRoots[size]) << "size " << size;
    if (size > 0) {
      frontier.Append(HashLeaf(ReferenceLeaves()[size - 1]));
      EXPECT_EQ(HashHex(frontier.Root()), kReferenceRoots[size]);
    }
  }
  EXPECT_EQ(HashHex(tree.Root()), kReferenceRoots[8]);
}

TEST(MerkleTest, ProofsMatchTheReferenceVectors) {
  MemoryTree tree = ReferenceTree();
  const Hash root8 = FromHex(kReferenceRoots[8]);
  const std::vector<Hash> path0 = FromHexList(
      {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
       "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
       "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"});
  const std::vector<Hash> path5 = FromHexList(
      {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
       "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
       "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"});
  absl::StatusOr<std::vector<Hash>> proof = InclusionProof(tree, 0, 8);
  ASSERT_TRUE(proof.ok());
  EXPECT_EQ(*proof, path0);
  proof = InclusionProof(tree, 5, 8);
  ASSERT_TRUE(proof.ok());
  EXPECT_EQ(*proof, path5);
  EXPECT_TRUE(
      VerifyInclusion(5, 8, HashLeaf(ReferenceLeaves()[5]), path5, root8).ok());

  const std::vector<Hash> consistency25 = FromHexList(
      {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
       "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"});
  proof = ConsistencyProof(tree, 2, 5);
  ASSERT_TRUE(proof.ok());
  EXPECT_EQ(*proof, consistency25);
  EXPECT_TRUE(VerifyConsistency(2, 5, FromHex(kReferenceRoots[2]),
                                FromHex(kReferenceRoots[5]), consistency25)
                  .ok());
}

TEST(MerkleTest, VerifiersNameWhatIsWrong) {
  MemoryTree tree = ReferenceTree();
  const Hash root8 = tree.Root();
  const Hash leaf = HashLeaf(ReferenceLeaves()[3]);
  absl::StatusOr<std::vector<Hash>> proof = InclusionProof(tree, 3, 8);
  ASSERT_TRUE(proof.ok());

  absl::Status status = VerifyInclusion(3, 8, leaf, *proof, EmptyRoot());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("leads to root"));
  std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
  status = VerifyInclusion(3, 8, leaf, shorter, root8);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("too short"));
  std::vector<Hash> longer = *proof;
  longer.push_back(root8);
  status = VerifyInclusion(3, 8, leaf, longer, root8);
  EXPECT_THAT(status.message(), HasSubstr("too long"));
  status = VerifyInclusion(8, 8, leaf, *proof, root8);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(InclusionProof(tree, 8, 8).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(tree, 5, 3).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Trivial consistency: equal sizes need equal roots and no proof; every
  // tree extends the empty one.
  EXPECT_TRUE(VerifyConsistency(8, 8, root8, root8, {}).ok());
  EXPECT_EQ(VerifyConsistency(8, 8, root8, EmptyRoot(), {}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(VerifyConsistency(8, 8, root8, root8, {root8}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(VerifyConsistency(0, 8, EmptyRoot(), root8, {}).ok());
  EXPECT_FALSE(VerifyConsistency(0, 8, root8, root8, {}).ok());
  EXPECT_FALSE(VerifyConsistency(3, 8, tree.Root(), root8, {}).ok());
}

// A proof reads at most two nodes per level (one per range of the proof,
// the right edge's subtrees shared): O(log n), here checked as 2 log2 n + 2.
TEST(MerkleTest, ProofsReadLogarithmicallyManyNodes) {
  MemoryTree tree;
  for (uint64_t i = 0; i < 70001; ++i) {
    tree.AppendLeaf(std::string(reinterpret_cast<const char*>(&i), 8));
  }
  for (uint64_t size : {uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{1000},
                        uint64_t{4096}, uint64_t{65537}, uint64_t{70001}}) {
    const uint64_t bound = 2 * std::bit_width(size) + 2;
    for (uint64_t index : {uint64_t{0}, size / 3, size / 2, size - 1}) {
      const uint64_t before = tree.nodes_read();
      ASSERT_TRUE(InclusionProof(tree, index, size).ok());
      EXPECT_LE(tree.nodes_read() - before, bound)
          << "inclusion " << index << " of " << size;
    }
    for (uint64_t first : {uint64_t{1}, size / 3, size / 2, size - 1}) {
      if (first == 0) continue;
      const uint64_t before = tree.nodes_read();
      ASSERT_TRUE(ConsistencyProof(tree, first, size).ok());
      EXPECT_LE(tree.nodes_read() - before, bound)
          << "consistency " << first << " to " << size;
    }
    const uint64_t before = tree.nodes_read();
    ASSERT_TRUE(RootHash(tree, size).ok());
    EXPECT_EQ(tree.nodes_read() - before,
              static_cast<uint64_t>(std::popcount(size)));
  }
}

TEST(MerkleTest, FrontierReportsEveryCompletedSubtreeAndReloads) {
  MemoryTree tree;
  MerkleFrontier frontier;
  for (uint64_t i = 0; i < 100; ++i) {
    const Hash leaf = HashLeaf(std::to_string(i));
    tree.Append(leaf);
    std::vector<std::pair<NodeId, Hash>> nodes;
    frontier.Append(leaf, &nodes);
    // The leaf and one parent per trailing zero bit of the new size.
    ASSERT_EQ(nodes.size(), 1u + std::countr_zero(i + 1));
    for (const auto& [node, hash] : nodes) {
      std::vector<Hash> stored;
      ASSERT_TRUE(tree.ReadNodes({node}, &stored).ok());
      EXPECT_EQ(stored[0], hash);
    }
    EXPECT_EQ(frontier.Root(), tree.Root());
    absl::StatusOr<MerkleFrontier> loaded = MerkleFrontier::Load(tree, i + 1);
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->hashes(), frontier.hashes());
    EXPECT_EQ(loaded->Root(), tree.Root());
  }
  EXPECT_EQ(MerkleFrontier::FromNodes(5, {EmptyRoot()}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<Hash> none;
  EXPECT_EQ(tree.ReadNodes({NodeId{3, 1000}}, &none).code(),
            absl::StatusCode::kDataLoss);
}

TEST(MerkleTest, HashBytesRoundTrip) {
  const Hash root = HashLeaf("x");
  absl::StatusOr<Hash> back = HashFromBytes(HashBytes(root), "root");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, root);
  absl::Status status = HashFromBytes("short", "root_hash").status();
  EXPECT_THAT(status.message(), HasSubstr("root_hash has 5 bytes"));
}

}  // namespace
}  // namespace tally::transparency
